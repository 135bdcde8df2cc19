/** The run's events in plain words, with the time of each, its offset from the start and how long steps ran. */
import type { Trace } from './api.js';
import { clock, duration, sentence, stepDurations } from './format.js';

export function Timeline(props: { trace?: Trace }) {
  const events = props.trace?.events ?? [];
  if (events.length === 0) return <p class="muted">No events yet.</p>;
  const start = events[0]!.at;
  const lasted = stepDurations(events);
  return (
    <ol class="timeline" aria-label="timeline">
      {events.map((event) => {
        const text = sentence(event);
        if (text === undefined) return null;
        const took = lasted.get(event.seq);
        return (
          <li key={event.seq} class={`t-${event.type.replace('.', '-')}`}>
            <time dateTime={new Date(event.at).toISOString()}>{clock(event.at)}</time>
            <span class="offset">+{duration(event.at - start) || '0 ms'}</span>
            <span class="what">
              {text}
              {took !== undefined ? <span class="took"> after {duration(took)}</span> : null}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
