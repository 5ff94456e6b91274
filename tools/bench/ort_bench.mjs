// ONNX Runtime (CPU execution provider) timing for tools/bench/compare.py: one model, one batch size.
//   node ort_bench.mjs MODEL.onnx BATCH WARMUP ITERATIONS THREADS   -> one JSON line on stdout
// Inputs are random normals; per-run wall times (ms) and the process's CPU time per run are reported.
import ort from "onnxruntime-node";

const [model, batchArg, warmupArg, itersArg, threadsArg] = process.argv.slice(2);
const batch = Number(batchArg), warmup = Number(warmupArg), iterations = Number(itersArg), threads = Number(threadsArg);
const session = await ort.InferenceSession.create(model, {
  executionProviders: ["cpu"],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: "all",
});
const [inputName] = session.inputNames;
const size = batch * 3 * 224 * 224;
const meta = session.inputMetadata?.[0];
const dims = meta?.shape && meta.shape.length === 4 && typeof meta.shape[2] === "number" ? meta.shape : [batch, 3, 224, 224];
const data = new Float32Array(batch * 3 * dims[2] * dims[3]);
let seed = 12345;
for (let i = 0; i < data.length; ++i) {  // Box-Muller on a small LCG: reproducible without dependencies
  seed = (seed * 1103515245 + 12345) % 2147483648;
  const u = (seed + 1) / 2147483649;
  seed = (seed * 1103515245 + 12345) % 2147483648;
  const v = seed / 2147483648;
  data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
void size;
const feeds = { [inputName]: new ort.Tensor("float32", data, [batch, 3, dims[2], dims[3]]) };
for (let i = 0; i < warmup; ++i) await session.run(feeds);
const ms = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < iterations; ++i) {
  const t0 = process.hrtime.bigint();
  await session.run(feeds);
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ ms, cpu_ms_per_run: (cpu.user + cpu.system) / 1000 / iterations, threads, version: ort.env.versions?.common ?? "" }));
