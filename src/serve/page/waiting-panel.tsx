/**
 * Everything the run waits for from a human, each with what would run and its buttons:
 * the plan (or a replan, as a diff), a budget to extend, steps to confirm, questions.
 */
import { useState } from 'preact/hooks';
import { ActionView } from './action-view.js';
import { type RunDetail, runPath } from './api.js';

export type Act = (path: string, body?: Record<string, unknown>) => Promise<void>;

function PlanApproval(props: { detail: RunDetail; act: Act }) {
  const approval = props.detail.pending.approvals.find((entry) => entry.kind === 'plan');
  const [reason, setReason] = useState('');
  if (!approval) return null;
  const path = runPath(props.detail.view.id);
  const diff = approval.diff;
  return (
    <section class="waiting" aria-label="approval">
      <h3>{approval.proposal ? 'A replan waits for your approval' : 'The plan waits for your approval'}</h3>
      {diff && (
        <ul class="diff">
          {diff.added.map((step) => (
            <li key={step.id} class="added">
              + <b>{step.id}</b> [{step.kind}, {step.tier}] {step.action?.summary}
            </li>
          ))}
          {diff.replaced.map((entry) => (
            <li key={`r-${entry.failed}`} class="replaced">
              ~ {entry.by} replaces failed step {entry.failed}
            </li>
          ))}
          {diff.rewired.map((entry) => (
            <li key={`w-${entry.stepId}`} class="rewired">
              ~ {entry.stepId} will wait on {entry.to} instead of {entry.from}
            </li>
          ))}
        </ul>
      )}
      <pre class="summary">{approval.summary}</pre>
      <div class="buttons">
        <button class="primary" onClick={() => props.act(`${path}/approve`)}>
          {approval.proposal ? 'Approve the replan' : 'Approve the plan'}
        </button>
        <input
          aria-label="why reject"
          placeholder="why reject…"
          value={reason}
          onInput={(event) => setReason((event.target as HTMLInputElement).value)}
        />
        <button disabled={reason.trim() === ''} onClick={() => props.act(`${path}/reject`, { reason })}>
          Reject
        </button>
      </div>
    </section>
  );
}

function BudgetPause(props: { detail: RunDetail; act: Act }) {
  const { view } = props.detail;
  const [limits, setLimits] = useState({ maxCostUsd: '', maxTokens: '', maxSteps: '' });
  if (view.phase !== 'paused') return null;
  const path = runPath(view.id);
  const field = (key: keyof typeof limits, label: string) => (
    <label>
      {label}
      <input
        inputMode="decimal"
        value={limits[key]}
        onInput={(event) => setLimits({ ...limits, [key]: (event.target as HTMLInputElement).value })}
      />
    </label>
  );
  const body = Object.fromEntries(Object.entries(limits).filter(([, value]) => value.trim() !== ''));
  return (
    <section class="waiting" aria-label="budget">
      <h3>The run is paused on its budget</h3>
      <p>{view.reason}</p>
      <div class="buttons">
        {field('maxCostUsd', 'max $')}
        {field('maxTokens', 'max tokens')}
        {field('maxSteps', 'max steps')}
        <button
          class="primary"
          disabled={Object.keys(body).length === 0}
          onClick={() => props.act(`${path}/extend`, body)}
        >
          Extend the budget
        </button>
      </div>
    </section>
  );
}

function Confirmations(props: { detail: RunDetail; act: Act }) {
  const path = runPath(props.detail.view.id);
  return (
    <>
      {props.detail.pending.confirmations.map((confirmation) => (
        <section key={confirmation.stepId} class="waiting" aria-label={`confirm ${confirmation.stepId}`}>
          <h3>
            Step <b>{confirmation.stepId}</b> waits for confirmation (
            {confirmation.reason ?? `tier ${confirmation.tier}`})
          </h3>
          <p class="muted">It will run:</p>
          <ActionView action={confirmation.action} />
          <div class="buttons">
            <button
              class="primary"
              onClick={() => props.act(`${path}/approve`, { stepId: confirmation.stepId })}
            >
              Run it
            </button>
            <button
              onClick={() => props.act(`${path}/reject`, { stepId: confirmation.stepId, decision: 'skip' })}
            >
              Skip it
            </button>
            <button
              onClick={() => props.act(`${path}/reject`, { stepId: confirmation.stepId, decision: 'fail' })}
            >
              Fail it
            </button>
          </div>
        </section>
      ))}
    </>
  );
}

function Question(props: { request: RunDetail['pending']['requests'][number]; act: Act }) {
  const [text, setText] = useState('');
  const { request } = props;
  const path = `/api/requests/${encodeURIComponent(request.requestId)}/answer`;
  return (
    <section class="waiting" aria-label={`question of ${request.stepId}`}>
      <h3>
        Step <b>{request.stepId}</b> asks
      </h3>
      <p class="question">{request.question}</p>
      <div class="buttons">
        {request.options && request.options.length > 0 ? (
          request.options.map((option) => (
            <button key={option.id} onClick={() => props.act(path, { optionId: option.id })}>
              {option.label}
            </button>
          ))
        ) : (
          <>
            <input
              aria-label="your answer"
              placeholder="your answer…"
              value={text}
              onInput={(event) => setText((event.target as HTMLInputElement).value)}
            />
            <button class="primary" disabled={text.trim() === ''} onClick={() => props.act(path, { text })}>
              Answer
            </button>
          </>
        )}
      </div>
    </section>
  );
}

export function WaitingPanel(props: { detail: RunDetail; act: Act }) {
  return (
    <div class="waiting-panel">
      <PlanApproval {...props} />
      <BudgetPause {...props} />
      <Confirmations {...props} />
      {props.detail.pending.requests.map((request) => (
        <Question key={request.requestId} request={request} act={props.act} />
      ))}
    </div>
  );
}
