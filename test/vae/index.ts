// The VAE decoder's tests (kernels are in test/kernels): one device against the fixtures, odd sizes
// against the Float64 reference, bands == whole frames.
import "./config.test.ts";
import "./weights.test.ts";
import "./decode.test.ts";
import "./reference.test.ts";
import "./band.test.ts";
