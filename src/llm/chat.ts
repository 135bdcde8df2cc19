/**
 * The vocabulary of a model call (messages, tools, response formats, results) and the pure
 * mapping between it and the OpenAI chat-completions wire format.
 */
import type {
  ChatCompletion,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { TaskvisorError } from '../errors.js';

/** A tool call the model asked for. */
export interface ToolCall {
  id: string;
  name: string;
  /** The parsed JSON arguments (`{}` when the model sent none); `undefined` when they are not JSON. */
  arguments: unknown;
  /** The arguments exactly as the model wrote them. */
  argumentsText: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

/** A function the model may call; `parameters` is a JSON Schema object. */
export interface ChatTool {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
  /** OpenAI structured-outputs strictness for the arguments. */
  strict?: boolean;
}

export type ResponseFormat =
  | {
      type: 'json_schema';
      /** a-z, A-Z, 0-9, `_` and `-`, at most 64 characters. */
      name: string;
      schema: Record<string, unknown>;
      description?: string;
      /** OpenAI structured-outputs strictness (every property required, no extra properties). */
      strict?: boolean;
    }
  | { type: 'json_object' };

export interface ChatRequest {
  messages: ChatMessage[];
  /** Overrides the client's default model for this call. */
  model?: string;
  maxTokens?: number;
  temperature?: number;
  responseFormat?: ResponseFormat;
  tools?: ChatTool[];
  /** Streams the answer over SSE and assembles it (usage comes from the final chunk). */
  stream?: boolean;
  /** Aborts the call, including a backoff wait between attempts. */
  signal?: AbortSignal;
  /** Called once per model response that carried usage (retried attempts included), after the client's `onUsage`. */
  onUsage?: (usage: TokenUsage & { model: string }) => void;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ChatResult {
  text: string;
  toolCalls: ToolCall[];
  usage: TokenUsage;
  /** The model that answered, as the server names it (may be a dated snapshot of the one asked for). */
  model: string;
  /** `stop`, `length`, `tool_calls`, `content_filter`, ... or `unknown` when the server sent none. */
  finishReason: string;
}

/** Which request field carries `maxTokens`: OpenAI's current one, or the older one some servers need. */
export type MaxTokensField = 'max_completion_tokens' | 'max_tokens';

/** Builds the chat-completions request body (without `stream`, which the caller adds). */
export function toCompletionParams(
  request: ChatRequest,
  model: string,
  maxTokensField: MaxTokensField,
): ChatCompletionCreateParamsBase {
  const params: ChatCompletionCreateParamsBase = {
    model,
    messages: request.messages.map(toMessageParam),
  };
  if (request.maxTokens !== undefined) params[maxTokensField] = request.maxTokens;
  if (request.temperature !== undefined) params.temperature = request.temperature;
  const format = request.responseFormat;
  if (format?.type === 'json_schema') {
    params.response_format = {
      type: 'json_schema',
      json_schema: {
        name: format.name,
        schema: format.schema,
        ...(format.description !== undefined ? { description: format.description } : {}),
        ...(format.strict !== undefined ? { strict: format.strict } : {}),
      },
    };
  } else if (format?.type === 'json_object') {
    params.response_format = { type: 'json_object' };
  }
  if (request.tools && request.tools.length > 0) {
    params.tools = request.tools.map((tool) => ({
      type: 'function',
      function: {
        name: tool.name,
        parameters: tool.parameters,
        ...(tool.description !== undefined ? { description: tool.description } : {}),
        ...(tool.strict !== undefined ? { strict: tool.strict } : {}),
      },
    }));
  }
  return params;
}

function toMessageParam(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content,
        ...(message.toolCalls && message.toolCalls.length > 0
          ? {
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function' as const,
                function: { name: call.name, arguments: call.argumentsText },
              })),
            }
          : {}),
      };
  }
}

/** A tool call from its wire form; arguments that are not JSON stay available as text. */
export function toolCallOf(id: string, name: string, argumentsText: string): ToolCall {
  if (argumentsText.trim() === '') return { id, name, arguments: {}, argumentsText };
  try {
    return { id, name, arguments: JSON.parse(argumentsText) as unknown, argumentsText };
  } catch {
    return { id, name, arguments: undefined, argumentsText };
  }
}

/** Token usage from the wire form, or `undefined` when the server reported none. */
export function usageOf(
  usage: { prompt_tokens?: number | null; completion_tokens?: number | null } | null | undefined,
): TokenUsage | undefined {
  if (!usage) return undefined;
  return { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 };
}

/** The result of a non-streaming completion. */
export function resultFromCompletion(completion: ChatCompletion, requestedModel: string): ChatResult {
  const choice = completion.choices[0];
  if (!choice) {
    throw new TaskvisorError(
      'LLM_BAD_OUTPUT',
      `The model API answered without any choice (model ${JSON.stringify(requestedModel)}); ` +
        'check that the server implements /chat/completions',
      { model: completion.model || requestedModel },
    );
  }
  const toolCalls: ToolCall[] = [];
  for (const call of choice.message.tool_calls ?? []) {
    if (call.type === 'function')
      toolCalls.push(toolCallOf(call.id, call.function.name, call.function.arguments));
  }
  return {
    text: choice.message.content ?? '',
    toolCalls,
    usage: usageOf(completion.usage) ?? { inputTokens: 0, outputTokens: 0 },
    model: completion.model || requestedModel,
    finishReason: choice.finish_reason || 'unknown',
  };
}
