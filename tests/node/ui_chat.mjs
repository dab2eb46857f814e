// The AI SDK as a client of POST /api/chat: what useChat does, without React.
// Usage: node ui_chat.mjs '{"url": "http://127.0.0.1:8000", "text": "generators", "model": "course-generator",
//                           "chatId": "chat-1", "headers": {}, "stopAfter": 0, "reconnect": true}'
// Prints one JSON line: the message's parts, the errors the stream reported, and (with "reconnect")
// what reconnectToStream answered: "none" (204) or the parts of the replayed stream.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const options = JSON.parse(process.argv[2]);
const transport = new DefaultChatTransport({ api: `${options.url}/api/chat`, headers: options.headers ?? {},
  body: options.model ? { model: options.model } : {} });

async function read(stream, stopAfter) {
  const errors = [];
  let last;
  let snapshots = 0;
  for await (const message of readUIMessageStream({ stream, onError: (error) => errors.push(error.message) })) {
    last = message;
    snapshots += 1;
    if (stopAfter && snapshots >= stopAfter) break;
  }
  const parts = (last?.parts ?? []).map((part) => ({ type: part.type, text: part.text ?? "", state: part.state }));
  return { parts, errors, snapshots };
}

const result = {};
try {
  const stream = await transport.sendMessages({
    chatId: options.chatId,
    messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: options.text }] }],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: undefined,
  });
  Object.assign(result, await read(stream, options.stopAfter ?? 0));
} catch (error) {
  result.thrown = error.message;
}
if (options.reconnect) {
  const again = await transport.reconnectToStream({ chatId: options.chatId });
  result.reconnect = again === null ? "none" : await read(again, 0);
}
console.log(JSON.stringify(result));
