// The AI SDK's own OpenAI provider reading POST /v1/responses (its default API since AI SDK 5).
// Usage: node responses_provider.mjs <server url> <model> <input>
// Prints one JSON line: the stream's part types in order, the text, and the reasoning.
import { createOpenAI } from "@ai-sdk/openai";
import { streamText } from "ai";

const [url, model, prompt] = process.argv.slice(2);
const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: "unused" });
const result = streamText({ model: openai.responses(model), prompt, maxRetries: 0 });
const types = [];
const errors = [];
for await (const part of result.fullStream) {
  types.push(part.type);
  if (part.type === "error") errors.push(String(part.error?.message ?? part.error));
}
console.log(JSON.stringify({ types, errors, text: await result.text, reasoning: await result.reasoningText ?? "" }));
