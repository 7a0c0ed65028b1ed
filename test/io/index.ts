// Checkpoint I/O, config and synthetic weights: pure CPU tests (fs_deno.test.ts runs in Deno only).
import "./safetensors.test.ts";
import "./model.test.ts";
import "./fs_deno.test.ts";
import "./model_folder.test.ts";
import "./hub.test.ts";
import "./adapter_check.test.ts";
import "./video.test.ts";
import "./safetensors_fuzz.test.ts";
import "./atomic_output.test.ts";
