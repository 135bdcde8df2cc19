/* global setTimeout, clearTimeout */
/**
 * `--config examples/actions.mjs`: createSupervisor options for the command line. This
 * file registers two custom step kinds the examples use:
 *   wait { ms, output }     sleeps (honouring cancellation), then returns `output`
 *   ask  { question, options? }  asks a human (`taskvisor answer`) and returns the answer
 */
export default {
  actions: {
    wait: async (input, ctx) => {
      ctx.log(`waiting ${input.ms} ms (attempt ${ctx.attempt})`);
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, Number(input.ms ?? 1000));
        ctx.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            reject(ctx.signal.reason);
          },
          { once: true },
        );
      });
      return { output: input.output ?? null };
    },
    ask: async (input, ctx) => {
      const answer = await ctx.ask({
        key: 'question',
        question: String(input.question),
        ...(Array.isArray(input.options) ? { options: input.options } : {}),
      });
      return { output: answer.optionId ?? answer.text ?? null };
    },
  },
};
