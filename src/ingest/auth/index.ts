/** Turns a source's `auth` config into its verifier: the one place that knows every scheme. */
import type { AuthConfig } from '../../config/schema.js';
import { createTokenVerifier } from './token.js';
import type { NonceStore, Verifier } from './verifier.js';

export function createVerifier(auth: AuthConfig, _deps: { nonces: NonceStore }): Verifier {
  switch (auth.scheme) {
    case 'token':
      return createTokenVerifier(auth.secrets);
    default:
      throw new Error(`auth scheme ${auth.scheme} is not implemented yet`);
  }
}
