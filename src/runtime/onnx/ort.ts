import ort from 'onnxruntime-node';

/**
 * ONNX Runtime, with its telemetry off. On Linux its telemetry matches regular expressions against
 * the process's command line when the first session is created, and libstdc++'s recursive regex
 * engine overflows the main thread's stack once that line passes about 32 KB: a shell glob of
 * 600 image paths crashed every command with SIGSEGV (gdb: ~87,000 frames inside
 * libonnxruntime, after it reads /proc/self/cmdline). ORT reads the variable when it creates its
 * environment, which is after this module runs. It also stops ORT from reading /etc/machine-id.
 * A user who sets the variable keeps their choice.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export default ort;
