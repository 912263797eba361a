// Calls a running moegate with the official OpenAI SDK and prints what the
// SDK parsed, one JSON line per check, for cmd/gateway's TestOfficialSDK.
//
//   node check.mjs BASE_URL MODEL
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "sdk-check", maxRetries: 0 });
const out = (name, value) => console.log(JSON.stringify({ check: name, ...value }));

// Responses API, not streaming: output_text is computed by the SDK from
// the output items.
const r = await client.responses.create({ model, instructions: "Be brief.", input: "Say hello.", max_output_tokens: 16 });
out("responses", { id: r.id, object: r.object, status: r.status, output_text: r.output_text, output_types: r.output.map((o) => o.type), usage: r.usage });

// Responses API, message items and a function tool.
const t = await client.responses.create({
  model,
  input: [{ role: "user", content: [{ type: "input_text", text: "What is the weather in Paris?" }] }],
  tools: [{ type: "function", name: "get_weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: false }],
});
out("responses_tools", { status: t.status, calls: t.output.filter((o) => o.type === "function_call").map((o) => ({ name: o.name, call_id: o.call_id, arguments: o.arguments })) });

// Responses API, streaming: every event type in order, and the final response.
const stream = await client.responses.create({ model, input: "Stream a hello.", stream: true, max_output_tokens: 16 });
const events = [];
let text = "";
let final = null;
for await (const ev of stream) {
  events.push(ev.type);
  if (ev.type === "response.output_text.delta") text += ev.delta;
  if (ev.type === "response.completed" || ev.type === "response.incomplete") final = ev.response;
}
out("responses_stream", { events, text, final_status: final && final.status, final_text: final && final.output[0].content[0].text });

// Responses API, streaming a function call: the call arrives as an output
// item with its arguments.
const ts = await client.responses.create({
  model, stream: true, input: "What is the weather in Paris?",
  tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }],
});
const tevents = [];
let args = "";
let call = null;
for await (const ev of ts) {
  tevents.push(ev.type);
  if (ev.type === "response.function_call_arguments.delta") args += ev.delta;
  if (ev.type === "response.output_item.done" && ev.item.type === "function_call") call = ev.item;
}
out("responses_tools_stream", { events: tevents, arguments: args, name: call && call.name, call_id: call && call.call_id });

// Legacy completions, streaming and not.
const c = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 16 });
out("completions", { object: c.object, text: c.choices[0].text, finish_reason: c.choices[0].finish_reason, usage: c.usage });
const cs = await client.completions.create({ model, prompt: "Twice upon a time", max_tokens: 16, stream: true });
let ctext = "";
let chunks = 0;
for await (const ch of cs) {
  chunks++;
  ctext += ch.choices[0]?.text ?? "";
}
out("completions_stream", { chunks, text: ctext });
