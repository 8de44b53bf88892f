/** Maps a sender's body onto the native signal shape, by the source's `format` (docs/http-api.md#signal-body). */
import type { Format } from '../../config/schema.js';
import { fromTradersPost } from './traderspost.js';
import { fromTradingView } from './tradingview.js';

export function mapFormat(format: Format, body: Record<string, unknown>): Record<string, unknown> {
  switch (format) {
    case 'native':
      return body;
    case 'tradingview':
      return fromTradingView(body);
    case 'traderspost':
      return fromTradersPost(body);
  }
}
