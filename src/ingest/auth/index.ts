/** Turns a source's `auth` config into its verifier: the one place that knows every scheme. */
import type { AuthConfig } from '../../config/schema.js';
import { createGithubVerifier } from './github.js';
import { createHmacVerifier } from './hmac.js';
import { createNoneVerifier } from './none.js';
import { createPassphraseVerifier } from './passphrase.js';
import { createStandardWebhooksVerifier } from './standard-webhooks.js';
import { createStripeVerifier } from './stripe.js';
import { createTokenVerifier } from './token.js';
import type { NonceStore, Verifier } from './verifier.js';

/**
 * Builds the verifier of one source. Throws only for a configuration that can never verify
 * (a standard-webhooks secret that is not base64), so that it stops the start.
 */
export function createVerifier(auth: AuthConfig, deps: { nonces: NonceStore }): Verifier {
  switch (auth.scheme) {
    case 'standard-webhooks':
      return createStandardWebhooksVerifier(auth.secrets);
    case 'hmac':
      return createHmacVerifier(auth.secrets, deps.nonces);
    case 'stripe':
      return createStripeVerifier(auth.secrets);
    case 'github':
      return createGithubVerifier(auth.secrets);
    case 'token':
      return createTokenVerifier(auth.secrets);
    case 'passphrase':
      return createPassphraseVerifier(auth.field, auth.secrets);
    case 'none':
      return createNoneVerifier();
    default: {
      // Exhaustiveness: a new scheme in the config schema fails to compile here.
      const unknown: never = auth;
      throw new Error(`unknown auth scheme ${JSON.stringify(unknown)}`);
    }
  }
}
