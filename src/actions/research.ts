/**
 * `research` and `review`: steps answered by the supervisor's model. The system prompts
 * say plainly what the model can and cannot see, so it does not pretend to have read a
 * repository or the web.
 */
import { TaskvisorError } from '../errors.js';
import type { ActionContext, ActionFunction, RunModel } from '../runtime/executor.js';

export const RESEARCH_SYSTEM_PROMPT = [
  'You are the research step of an automated plan run by taskvisor.',
  'You see only the question below, including any earlier results quoted in it.',
  'You cannot browse the web, open files, run commands or see other steps unless their output is quoted here.',
  'If the answer needs something you cannot see, say what is missing instead of guessing.',
  'Answer directly and concisely; your answer is passed to later steps as text.',
].join('\n');

export const REVIEW_SYSTEM_PROMPT = [
  'You are the review step of an automated plan run by taskvisor.',
  'You see only the artifact text and the criteria below: no repository, no files, no web, no way to run anything.',
  'Judge the artifact as given against each criterion; do not assume anything that is not in it.',
  'Start with one line "Verdict: pass" or "Verdict: fail", then list the findings, each with the criterion it concerns.',
].join('\n');

function modelOf(ctx: ActionContext, kind: string): RunModel {
  if (ctx.llm) return ctx.llm;
  throw new TaskvisorError(
    'INVALID_OPTION',
    `Step ${ctx.stepId} is a ${kind} step, which needs a model: pass llm to createSupervisor (or set TASKVISOR_MODEL).`,
    { retryable: false, stepId: ctx.stepId },
  );
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export const researchAction: ActionFunction = async (input, ctx) => {
  const llm = modelOf(ctx, 'research');
  const result = await llm.chat({
    ...(typeof input.model === 'string' ? { model: input.model } : {}),
    messages: [
      { role: 'system', content: RESEARCH_SYSTEM_PROMPT },
      { role: 'user', content: text(input.query) },
    ],
  });
  return { output: result.text };
};

export const reviewAction: ActionFunction = async (input, ctx) => {
  const llm = modelOf(ctx, 'review');
  const artifact = text(input.artifact);
  const criteria =
    input.criteria === undefined
      ? ['correctness', 'completeness', 'clarity']
      : Array.isArray(input.criteria)
        ? input.criteria.map(text)
        : [text(input.criteria)];
  ctx.artifact('review', 'reviewed artifact', { text: artifact, criteria });
  const result = await llm.chat({
    ...(typeof input.model === 'string' ? { model: input.model } : {}),
    messages: [
      { role: 'system', content: REVIEW_SYSTEM_PROMPT },
      {
        role: 'user',
        content: `Criteria:\n${criteria.map((criterion) => `- ${criterion}`).join('\n')}\n\nArtifact:\n<<<\n${artifact}\n>>>`,
      },
    ],
  });
  return { output: result.text };
};
