/**
 * Folds streamed chat-completion chunks into one result: text deltas are concatenated,
 * tool-call deltas are joined by their `index`, and usage comes from the (final) chunk
 * that carries it. Pure: no I/O.
 */
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { type ChatResult, type TokenUsage, toolCallOf, usageOf } from './chat.js';

interface PartialToolCall {
  id: string;
  name: string;
  argumentsText: string;
}

export interface StreamAssembly {
  text: string;
  toolCalls: Map<number, PartialToolCall>;
  usage: TokenUsage | undefined;
  model: string;
  finishReason: string | undefined;
}

export function emptyAssembly(requestedModel: string): StreamAssembly {
  return { text: '', toolCalls: new Map(), usage: undefined, model: requestedModel, finishReason: undefined };
}

/** Adds one chunk to the assembly (mutates and returns it, to stay O(1) per chunk). */
export function addChunk(assembly: StreamAssembly, chunk: ChatCompletionChunk): StreamAssembly {
  if (chunk.model) assembly.model = chunk.model;
  const usage = usageOf(chunk.usage);
  if (usage) assembly.usage = usage;
  // Only the first choice is used: requests never ask for n > 1.
  const choice = chunk.choices.find((c) => c.index === 0);
  if (!choice) return assembly;
  if (choice.delta.content) assembly.text += choice.delta.content;
  for (const delta of choice.delta.tool_calls ?? []) {
    const call = assembly.toolCalls.get(delta.index) ?? { id: '', name: '', argumentsText: '' };
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.name += delta.function.name;
    if (delta.function?.arguments) call.argumentsText += delta.function.arguments;
    assembly.toolCalls.set(delta.index, call);
  }
  if (choice.finish_reason) assembly.finishReason = choice.finish_reason;
  return assembly;
}

/** The assembled result; usage is zero when the stream carried none. */
export function resultFromAssembly(assembly: StreamAssembly): ChatResult {
  const toolCalls = [...assembly.toolCalls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, call]) => toolCallOf(call.id || `call_${index}`, call.name, call.argumentsText));
  return {
    text: assembly.text,
    toolCalls,
    usage: assembly.usage ?? { inputTokens: 0, outputTokens: 0 },
    model: assembly.model,
    finishReason: assembly.finishReason ?? 'unknown',
  };
}
