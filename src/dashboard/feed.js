// The live feed: the newest event-log entries, as they arrive on the stream.
import { byId, failures, h, time } from './dom.js';

const KEEP = 200;

/** One line about an event: its type, signal and what matters most in its data. */
export function summary(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case 'signal.accepted':
      return `${d.action ?? ''} ${d.instrument ?? ''} from ${d.source ?? ''}`;
    case 'signal.executing':
    case 'signal.rejected':
      return failures(d.decision);
    case 'mode.changed':
      return `${d.from ?? '?'} → ${d.to ?? '?'}: ${d.reason ?? ''} (${d.actor ?? ''})`;
    default:
      return '';
  }
}

export function addToFeed(e) {
  const list = byId('feed');
  const item = h(
    'li',
    { 'data-type': e.type, 'data-seq': String(e.seq) },
    h('span', { class: 'muted' }, `#${e.seq} ${time(e.at)} `),
    h('strong', {}, e.type),
    e.signal_id ? ` ${e.signal_id}` : '',
    ' ',
    summary(e),
  );
  list.prepend(item);
  while (list.children.length > KEEP) list.lastElementChild?.remove();
}
