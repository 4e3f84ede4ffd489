//! A vectorised `e^x` over slices of `f32`, for the fused kernels' softmaxes and sigmoids.
//!
//! libm's `expf` runs one element at a time, and it was a fifth of a training step before the
//! kernels were fused. This is Cephes' `expf` (range reduction by `ln 2` in two parts, a degree-6
//! polynomial on `[-ln 2 / 2, ln 2 / 2]`, the power of two built in the exponent bits), written
//! without branches so that LLVM vectorises the loop: sixteen lanes with AVX-512 and eight with
//! AVX2 and FMA where the CPU has them (the kernels that call it are compiled for each, and the
//! widest is chosen at run time), four with the SSE2 every x86-64 has. Its error is within 2 ulp
//! of the exact value (a test measures it against `f64::exp`).

/// Below this, `e^x` is under `f32`'s smallest normal number and is returned as 0.
const MIN_INPUT: f32 = -87.336_55;
/// Above this, `e^x` overflows `f32` (returned as infinity).
const MAX_INPUT: f32 = 88.722_83;
/// 1.5 * 2^23: adding it rounds an `f32` of magnitude below 2^22 to an integer, found in the low
/// bits of the sum's representation.
const ROUNDER: f32 = 12_582_912.0;

/// `e^x`, branch-free so that a loop over it vectorises.
#[inline(always)]
fn exp1(x: f32) -> f32 {
    let clamped = x.clamp(MIN_INPUT, MAX_INPUT);
    // k = round(x / ln 2), as a float and as the integer in the rounded sum's low bits.
    let shifted = clamped * std::f32::consts::LOG2_E + ROUNDER;
    let k = shifted - ROUNDER;
    let k_int = shifted.to_bits().wrapping_sub(ROUNDER.to_bits()) as i32;
    // r = x - k ln 2, with ln 2 split so that k * LN2_HI is exact.
    let r = clamped - k * 0.693_359_4 - k * -2.121_944_4e-4;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r2 + r + 1.0;
    // 2^k built in the exponent bits; k is in [-126, 128] after the clamp, so split it in two
    // halves to keep both powers normal (2^128 alone is not an f32).
    let half = k_int >> 1;
    let pow_a = f32::from_bits(((half + 127) as u32) << 23);
    let pow_b = f32::from_bits(((k_int - half + 127) as u32) << 23);
    let out = y * pow_a * pow_b;
    let out = if x < MIN_INPUT { 0.0 } else { out };
    if x > MAX_INPUT {
        f32::INFINITY
    } else {
        out
    }
}

/// Replaces every element of `xs` by its exponential, compiled into its caller: the kernels that
/// call it are compiled for the widest instruction set the CPU has (`widest!`), and so is it.
/// NaN stays NaN.
#[inline(always)]
pub(super) fn exp_inline(xs: &mut [f32]) {
    for x in xs {
        *x = exp1(*x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    widest! {
        /// [`exp_inline`] in the widest version this CPU runs, as the kernels call it.
        fn exp_in_place(xs: &mut [f32]) {
            exp_inline(xs)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn exp_slice_avx2(xs: &mut [f32]) {
        exp_inline(xs)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn exp_slice_avx512(xs: &mut [f32]) {
        exp_inline(xs)
    }

    fn ulps(got: f32, exact: f64) -> f64 {
        let exact32 = exact as f32;
        let ulp = f64::from(f32::from_bits(exact32.to_bits() + 1) - exact32);
        (f64::from(got) - exact).abs() / ulp
    }

    /// Within 2 ulp of the exact value on a dense sweep of the whole finite range.
    #[test]
    fn within_two_ulp_of_the_exact_exponential() {
        let mut xs: Vec<f32> = (0..2_000_001).map(|i| -87.0 + 175.6 * i as f32 / 2_000_000.0).collect();
        let inputs = xs.clone();
        exp_in_place(&mut xs);
        let worst = inputs.iter().zip(&xs).map(|(&x, &y)| ulps(y, f64::from(x).exp())).fold(0.0, f64::max);
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    /// The same value whichever code path (vectorised or not) a CPU takes: each path this CPU
    /// has, against the scalar function.
    #[test]
    fn the_vectorised_and_scalar_paths_agree() {
        let inputs: Vec<f32> = (0..4099).map(|i| (i as f32 - 2000.0) * 0.0431).collect();
        let scalar: Vec<f32> = inputs.iter().map(|&x| exp1(x)).collect();
        type Path = fn(&mut [f32]);
        let mut paths: Vec<(&str, Path)> = vec![("inline", exp_inline), ("dispatched", exp_in_place)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features (checked just above).
                paths.push(("avx2", |xs| unsafe { exp_slice_avx2(xs) }));
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: as above.
                paths.push(("avx512", |xs| unsafe { exp_slice_avx512(xs) }));
            }
        }
        for (name, path) in paths {
            let mut xs = inputs.clone();
            path(&mut xs);
            assert!(xs.iter().zip(&scalar).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}");
        }
    }

    #[test]
    fn limits_and_special_values() {
        let mut xs = [f32::NEG_INFINITY, -1000.0, -88.0, 0.0, 89.0, f32::INFINITY, f32::NAN];
        exp_in_place(&mut xs);
        assert_eq!(&xs[..6], &[0.0, 0.0, 0.0, 1.0, f32::INFINITY, f32::INFINITY]);
        assert!(xs[6].is_nan());
    }
}
