# MagCache4Wan2.1's decision loop (Zehong-Ma/MagCache, MagCache4Wan2.1/magcache_generate.py: magcache_forward and
# the nearest interpolation of its T2V 1.3B ratios), transcribed per model call (cond and uncond interleaved,
# cnt = 2 * step + branch), to print which steps each branch computes. test/pipeline/step_cache.test.ts and
# fewer_forwards.test.ts hold its output for 50 and 10 steps. Run: python3 test/reference/magcache_plan.py
import numpy as np

R13 = [1.0] * 2 + [1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762, 0.99634, 0.99685, 0.99567, 0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549, 0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481, 0.99479, 0.99415, 0.99413, 0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304, 0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063, 0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643, 0.98504, 0.98503, 0.9836, 0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718, 0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089, 0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868, 0.81838, 0.81939]


def nearest_interp(src, n):
    if n == 1:
        return np.array([src[-1]])
    scale = (len(src) - 1) / (n - 1)
    return src[np.round(np.arange(n) * scale).astype(int)]


def plan(steps, thresh=0.12, K=2, retention=0.2):
    m = np.array(R13)
    if len(m) != steps * 2:
        c, u = nearest_interp(m[0::2], steps), nearest_interp(m[1::2], steps)
        m = np.concatenate([c.reshape(-1, 1), u.reshape(-1, 1)], axis=1).reshape(-1)
    num = steps * 2
    acc_ratio, acc_steps, acc_err = [1.0, 1.0], [0, 0], [0.0, 0.0]
    computed = [[], []]
    for cnt in range(num):
        b, skip = cnt % 2, False
        if cnt >= int(num * retention):
            acc_ratio[b] *= m[cnt]
            acc_steps[b] += 1
            acc_err[b] += abs(1 - acc_ratio[b])
            if acc_err[b] < thresh and acc_steps[b] <= K:
                skip = True
            else:
                acc_err[b], acc_steps[b], acc_ratio[b] = 0.0, 0, 1.0
        if not skip:
            computed[b].append(cnt // 2)
    return computed


for steps in (50, 10):
    cond, uncond = plan(steps)
    print(f"{steps} steps: cond computes {cond}")
    print(f"{steps} steps: uncond computes {uncond}")
