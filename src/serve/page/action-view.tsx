/** What a step's action does, in full: the labelled parts from the server's `describeAction`. */
import type { ActionDescription } from './api.js';

export function ActionView(props: { action?: ActionDescription; label?: string }) {
  const { action } = props;
  if (!action)
    return <p class="muted">The action of this step was recorded before descriptions were kept.</p>;
  return (
    <div class="action">
      <code class="action-summary">{action.summary}</code>
      <dl>
        {action.details.map((detail) => (
          <>
            <dt>{detail.label}</dt>
            <dd>
              <pre>{detail.value}</pre>
            </dd>
          </>
        ))}
      </dl>
    </div>
  );
}
