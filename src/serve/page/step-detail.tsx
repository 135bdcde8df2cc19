/**
 * One step in full: what it runs, its state and attempts, output (a shell step's stdout and
 * stderr apart), error, log lines, artifacts, its controls, and for a fan-out every worker
 * with its answer and the verdict.
 */
import { ActionView } from './action-view.js';
import { type RunView, runPath, type Trace } from './api.js';
import { clock, duration, shortJson } from './format.js';
import type { Act } from './waiting-panel.js';

type StepView = RunView['steps'][number];

const CONTROLS: ReadonlyArray<{ action: string; label: string; states: readonly string[] }> = [
  { action: 'retry', label: 'Retry', states: ['failed', 'cancelled', 'retrying'] },
  { action: 'interrupt', label: 'Interrupt', states: ['running', 'awaitingInput'] },
  { action: 'resume', label: 'Resume', states: ['interrupted'] },
  {
    action: 'cancel',
    label: 'Cancel step',
    states: ['pending', 'awaitingConfirmation', 'running', 'awaitingInput', 'retrying', 'interrupted'],
  },
];

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function Output(props: { output: unknown }) {
  const shell = record(props.output);
  if (shell && typeof shell.stdout === 'string' && typeof shell.exitCode === 'number') {
    return (
      <div class="output">
        <p class="muted">exit code {shell.exitCode}</p>
        <h5>stdout</h5>
        <pre class="stdout">{shell.stdout || '(empty)'}</pre>
        <h5>stderr</h5>
        <pre class="stderr">
          {typeof shell.stderr === 'string' && shell.stderr !== '' ? shell.stderr : '(empty)'}
        </pre>
      </div>
    );
  }
  return <pre class="output">{shortJson(props.output, 20_000)}</pre>;
}

function Verdict(props: { output: unknown }) {
  const reduction = record(record(props.output)?.reduction);
  const verdict = record(reduction?.verdict);
  if (!reduction || !verdict) return null;
  const rows: Array<[string, unknown]> =
    reduction.mode === 'best_of_n'
      ? [
          ['winner', verdict.winner_label],
          ['why', verdict.rationale],
          ['next', verdict.recommended_next_step],
        ]
      : reduction.mode === 'compare'
        ? [
            ['ranking', Array.isArray(verdict.ranked_labels) ? verdict.ranked_labels.join(' > ') : ''],
            ['recommendation', verdict.recommendation],
          ]
        : [
            ['summary', verdict.summary],
            ['synthesis', verdict.synthesis],
          ];
  return (
    <div class="verdict">
      <h4>
        Verdict ({String(reduction.mode)} by {String(reduction.model)})
      </h4>
      <dl>
        {rows.map(([label, value]) => (
          <>
            <dt>{label}</dt>
            <dd>{String(value ?? '')}</dd>
          </>
        ))}
      </dl>
    </div>
  );
}

function Workers(props: { view: RunView; step: StepView; trace?: Trace; act: Act }) {
  const workers = (props.view.workers ?? []).filter((worker) => worker.stepId === props.step.id);
  if (workers.length === 0) return null;
  const answers = new Map(
    (props.trace?.workers ?? []).filter((w) => w.stepId === props.step.id).map((w) => [w.label, w]),
  );
  const path = `${runPath(props.view.id)}/control`;
  return (
    <div class="workers">
      <h4>Fan-out workers</h4>
      <table>
        <thead>
          <tr>
            <th>worker</th>
            <th>state</th>
            <th>answer</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {workers.map((worker) => {
            const result = answers.get(worker.label);
            return (
              <tr key={worker.label}>
                <td>
                  {worker.label}
                  <br />
                  <small class="muted">{worker.model}</small>
                </td>
                <td class={`state s-${worker.state}`}>{worker.state}</td>
                <td>
                  <pre>{result?.text ?? result?.error?.message ?? worker.error ?? ''}</pre>
                </td>
                <td class="buttons">
                  {worker.state === 'running' && (
                    <button onClick={() => props.act(path, { stepId: worker.label, action: 'interrupt' })}>
                      Interrupt
                    </button>
                  )}
                  {worker.state === 'interrupted' && (
                    <button onClick={() => props.act(path, { stepId: worker.label, action: 'resume' })}>
                      Resume
                    </button>
                  )}
                  {(worker.state === 'failed' || worker.state === 'cancelled') && (
                    <button onClick={() => props.act(path, { stepId: worker.label, action: 'retry' })}>
                      Retry
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <Verdict output={props.step.output} />
    </div>
  );
}

export function StepDetail(props: { view: RunView; step: StepView; trace?: Trace; act: Act }) {
  const { view, step, trace } = props;
  const attempts = (trace?.attempts ?? []).filter((attempt) => attempt.stepId === step.id);
  const logs = (trace?.events ?? []).filter((event) => event.type === 'step.log' && event.stepId === step.id);
  const artifacts = (trace?.artifacts ?? []).filter((artifact) => artifact.stepId === step.id);
  const ended = ['completed', 'failed', 'cancelled'].includes(view.phase);
  const path = `${runPath(view.id)}/control`;
  return (
    <section class="step-detail" aria-label={`step ${step.id}`}>
      <h3>
        {step.id}
        {step.title !== step.id ? `: ${step.title}` : ''}{' '}
        <span class={`state s-${step.state}`}>{step.state}</span>
      </h3>
      <p class="muted">
        {step.kind} · tier {step.tier} · attempt {step.attempt}
        {step.dependsOn.length > 0 ? ` · after ${step.dependsOn.join(', ')}` : ''}
        {step.startedAt !== undefined ? ` · ${duration((step.endedAt ?? Date.now()) - step.startedAt)}` : ''}
      </p>
      {step.reason && <p>{step.reason}</p>}
      <h4>What it runs</h4>
      <ActionView action={step.action} />
      {!ended && (
        <div class="buttons">
          {CONTROLS.filter((control) => control.states.includes(step.state)).map((control) => (
            <button
              key={control.action}
              onClick={() => props.act(path, { stepId: step.id, action: control.action })}
            >
              {control.label}
            </button>
          ))}
        </div>
      )}
      {step.error && (
        <>
          <h4>Error</h4>
          <pre class="error">{step.error}</pre>
        </>
      )}
      {step.output !== undefined && step.kind !== 'fanout' && (
        <>
          <h4>Output</h4>
          <Output output={step.output} />
        </>
      )}
      <Workers view={view} step={step} trace={trace} act={props.act} />
      {attempts.length > 0 && (
        <>
          <h4>Attempts</h4>
          <table class="attempts">
            <tbody>
              {attempts.map((attempt) => (
                <tr key={attempt.attempt}>
                  <td>#{attempt.attempt}</td>
                  <td>{attempt.status}</td>
                  <td>{clock(attempt.startedAt)}</td>
                  <td>
                    {attempt.endedAt !== undefined ? duration(attempt.endedAt - attempt.startedAt) : ''}
                  </td>
                  <td>
                    <pre>
                      {attempt.error
                        ? attempt.error.message
                        : attempt.output !== undefined
                          ? shortJson(attempt.output, 300)
                          : ''}
                    </pre>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {logs.length > 0 && (
        <>
          <h4>Log</h4>
          <pre class="log">
            {logs
              .map((event) => `${clock(event.at)}  ${event.type === 'step.log' ? event.message : ''}`)
              .join('\n')}
          </pre>
        </>
      )}
      {artifacts.length > 0 && (
        <>
          <h4>Artifacts</h4>
          {artifacts.map((artifact) => (
            <details key={`${artifact.kind}:${artifact.name}:${artifact.at}`}>
              <summary>
                {artifact.kind}: {artifact.name} ({clock(artifact.at)})
              </summary>
              <pre>{shortJson(artifact.body, 20_000)}</pre>
            </details>
          ))}
        </>
      )}
    </section>
  );
}
