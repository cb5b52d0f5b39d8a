/**
 * The hot path of every streaming format: text and reasoning deltas are spliced into a frame whose
 * JSON prefix and suffix are built once per run, instead of building and serialising a whole object
 * for every delta. `prefix` ends inside the `delta` object; `suffix` closes it and the frame.
 */
export function createDeltaFrames(prefix: string, suffix: string) {
  return {
    text: (text: string) => `${prefix}"content":${JSON.stringify(text)}${suffix}`,
    reasoning: (text: string) => `${prefix}"reasoning_content":${JSON.stringify(text)}${suffix}`,
    /** The first frame of a run, as OpenAI sends it. */
    role: `${prefix}"role":"assistant","content":""${suffix}`,
  };
}
