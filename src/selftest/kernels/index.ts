// The kernel checks: each kernel against its Float64 reference (src/selftest/reference) and, where one
// exists, diffusers' golden tensors. `npx shardit selftest` runs them on the adapter at hand; the test
// suite runs them in both hosts (test/kernels/index.ts imports this list).
import "./rms_norm.test.ts";
import "./gemm.test.ts";
import "./gemm_matrix.test.ts";
import "./gemm_pack.test.ts";
import "./gemm_matrix_packed.test.ts";
import "./attention.test.ts";
import "./attention_merge.test.ts";
import "./attention_matrix.test.ts";
import "./layer_norm.test.ts";
import "./rope3d.test.ts";
import "./activation.test.ts";
import "./add.test.ts";
import "./timestep_embedding.test.ts";
import "./patchify.test.ts";
import "./unpatchify.test.ts";
import "./runtime.test.ts";
import "./vae_conv3d.test.ts";
import "./channel_rms_norm.test.ts";
import "./upsample2x.test.ts";
import "./video_frames.test.ts";
import "./vae_attention.test.ts";
import "./lora_merge.test.ts";
import "./abs_diff_sum.test.ts";
import "./rel_attention.test.ts";
import "./gated_gelu.test.ts";
import "./gemm_w16.test.ts";
import "./gemm_w8.test.ts";
import "./gemm_wx_split.test.ts";
import "./gemm_wx_matrix.test.ts";
