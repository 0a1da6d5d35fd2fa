/*
 * {{name}}: a polyplug plugin compiled to WebAssembly, written in C.
 *
 * The code is a native polyplug.h plugin; including polyplug_wasm.h (from polyplug's
 * plugin-sdk/wasm) turns it into the guest ABI. It runs sandboxed: no files, network,
 * environment or clock unless granted (see polyplug's plugin-sdk/wasm/README.md).
 *
 * For every ID it returns the length of the ID and its number of G and C letters.
 * IDs shorter than the parameter min_length give no result and a log message. Each
 * worker keeps a count of what it computed in its state and logs it in finalize.
 *
 * Build and run (in the plugin folder; the SDK headers come from `polyplug sdk path`):
 *     sh build.sh
 *     polyplug run {{name}}.wasm ids ids.txt
 */
