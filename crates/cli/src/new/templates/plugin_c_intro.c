/*
 * {{name}}: a polyplug plugin in C, one file that polyplug compiles on first use.
 *
 * For every ID it returns the length of the ID and its number of G and C letters.
 * IDs shorter than the parameter min_length give no result and a log message. Each
 * worker keeps a count of what it computed in its state and logs it in finalize.
 * The ownership rules of every function are in polyplug.h (`polyplug build` finds it;
 * it is embedded in polyplug).
 *
 * Run it (in this folder):
 *     polyplug run {{name}}.c ids ids.txt
 */
