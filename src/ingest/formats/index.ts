/** Maps a sender's body onto the native signal shape, by the source's `format`. */
import type { Format } from '../../config/schema.js';

export function mapFormat(format: Format, body: Record<string, unknown>): Record<string, unknown> {
  switch (format) {
    case 'native':
      return body;
    case 'tradingview':
    case 'traderspost':
      return body;
  }
}
