package main

import (
	"math"

	"github.com/mewkiz/flac/frame"
)

// This file chooses how to encode each FLAC subframe: constant, one of the
// fixed polynomial predictors, or a linear predictor (LPC) found with the
// Levinson-Durbin recursion, each with partitioned Rice coding of the
// residual. mewkiz/flac's encoder then writes whatever we choose; its own
// analysis only tries the fixed predictors with a single Rice partition.

const (
	maxLPCOrder  = 12
	lpcPrecision = 14 // bits per quantised coefficient
	maxPartOrder = 6
)

// plan is the chosen encoding of one subframe and its size in bits.
type plan struct {
	hdr  frame.SubHeader
	bits int
}

// analyze returns the smallest encoding of samples at bps bits per sample.
func analyze(samples []int32, bps uint) plan {
	if constant(samples) {
		return plan{hdr: frame.SubHeader{Pred: frame.PredConstant}, bits: 8 + int(bps)}
	}
	best := plan{hdr: frame.SubHeader{Pred: frame.PredVerbatim}, bits: 8 + len(samples)*int(bps)}
	for order := 0; order <= 4 && order < len(samples); order++ {
		res := residuals(samples, frame.FixedCoeffs[order], 0)
		if res == nil {
			continue
		}
		rice, bits := chooseRice(res, len(samples), order)
		bits += 8 + order*int(bps)
		if bits < best.bits {
			best = plan{hdr: frame.SubHeader{Pred: frame.PredFixed, Order: order, ResidualCodingMethod: rice.method, RiceSubframe: rice.sub}, bits: bits}
		}
	}
	lpcs := levinson(samples)
	for order := 1; order <= len(lpcs); order++ {
		if order >= len(samples)/2 {
			break
		}
		coeffs, shift := quantize14(lpcs[order-1])
		res := residuals(samples, coeffs, shift)
		if res == nil {
			continue
		}
		rice, bits := chooseRice(res, len(samples), order)
		bits += 8 + order*int(bps) + 4 + 5 + order*lpcPrecision
		if bits < best.bits {
			best = plan{hdr: frame.SubHeader{
				Pred: frame.PredFIR, Order: order,
				CoeffPrec: lpcPrecision, CoeffShift: shift, Coeffs: coeffs,
				ResidualCodingMethod: rice.method, RiceSubframe: rice.sub,
			}, bits: bits}
		}
	}
	return best
}

func constant(s []int32) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}

// residuals returns the prediction errors of samples for the coefficients,
// or nil if one does not fit the 32 bits that decoders allow.
func residuals(samples []int32, coeffs []int32, shift int32) []int32 {
	order := len(coeffs)
	res := make([]int32, 0, len(samples)-order)
	for i := order; i < len(samples); i++ {
		var pred int64
		for j, c := range coeffs {
			pred += int64(c) * int64(samples[i-j-1])
		}
		r := int64(samples[i]) - pred>>uint(shift)
		if r > math.MaxInt32/2 || r < math.MinInt32/2 {
			return nil
		}
		res = append(res, int32(r))
	}
	return res
}

// levinson returns the LPC coefficients of orders 1..maxLPCOrder for the
// block, from the autocorrelation of the block under a Tukey window.
func levinson(samples []int32) [][]float64 {
	n := len(samples)
	p := min(maxLPCOrder, n-1)
	if p < 1 {
		return nil
	}
	x := make([]float64, n)
	taper := n / 4 // Tukey(0.5): a cosine taper over a quarter at each end
	for i, s := range samples {
		w := 1.0
		if taper > 0 {
			if i < taper {
				w = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(taper))
			} else if i >= n-taper {
				w = 0.5 - 0.5*math.Cos(math.Pi*float64(n-1-i)/float64(taper))
			}
		}
		x[i] = float64(s) * w
	}
	r := make([]float64, p+1)
	for lag := 0; lag <= p; lag++ {
		var sum float64
		for i := lag; i < n; i++ {
			sum += x[i] * x[i-lag]
		}
		r[lag] = sum
	}
	if r[0] == 0 {
		return nil
	}
	r[0] *= 1 + 1e-9 // a little white noise keeps the recursion stable
	var out [][]float64
	a := make([]float64, p+1)
	tmp := make([]float64, p+1)
	e := r[0]
	for m := 1; m <= p; m++ {
		acc := r[m]
		for j := 1; j < m; j++ {
			acc -= a[j] * r[m-j]
		}
		k := acc / e
		copy(tmp, a)
		a[m] = k
		for j := 1; j < m; j++ {
			a[j] = tmp[j] - k*tmp[m-j]
		}
		e *= 1 - k*k
		if e <= 0 {
			break
		}
		out = append(out, append([]float64(nil), a[1:m+1]...))
	}
	return out
}

// quantize14 rounds LPC coefficients to lpcPrecision-bit integers and
// returns them with their shift, carrying each rounding error into the
// next coefficient.
func quantize14(c []float64) ([]int32, int32) {
	cmax := 0.0
	for _, v := range c {
		cmax = math.Max(cmax, math.Abs(v))
	}
	if cmax == 0 {
		return make([]int32, len(c)), 0
	}
	_, exp := math.Frexp(cmax) // cmax = frac × 2^exp, frac in [0.5, 1)
	shift := int32(lpcPrecision - 1 - exp)
	shift = max(0, min(15, shift))
	lim := float64(int32(1)<<(lpcPrecision-1)) - 1
	q := make([]int32, len(c))
	var carry float64
	for i, v := range c {
		want := v*float64(int32(1)<<shift) + carry
		r := math.Round(want)
		r = math.Max(-lim-1, math.Min(lim, r))
		carry = want - r
		q[i] = int32(r)
	}
	return q, shift
}

// riceChoice is a residual coding method with its partitions.
type riceChoice struct {
	method frame.ResidualCodingMethod
	sub    *frame.RiceSubframe
}

// chooseRice picks the partition order and Rice parameters for the
// residuals of a block of n samples and predictor order, and returns the
// choice with its estimated size in bits. It sums the folded residuals of
// the finest partitions once and merges them for the coarser orders.
func chooseRice(res []int32, n, order int) (riceChoice, int) {
	top := 0
	for po := 1; po <= maxPartOrder; po++ {
		if n%(1<<po) != 0 || n>>po <= order {
			break
		}
		top = po
	}
	parts := 1 << top
	sums := make([]uint64, parts)
	counts := make([]int, parts)
	size := n >> top
	for i, r := range res {
		p := (i + order) / size
		sums[p] += uint64(uint32(r<<1) ^ uint32(r>>31)) // zigzag
		counts[p]++
	}
	bestBits := math.MaxInt
	var best riceChoice
	for po := top; po >= 0; po-- {
		parts := 1 << po
		bits := 2 + 4 // method and partition order
		method := frame.ResidualCodingMethodRice1
		sub := &frame.RiceSubframe{PartOrder: po}
		for p := 0; p < parts; p++ {
			k, b := bestParam(sums[p], counts[p])
			sub.Partitions = append(sub.Partitions, frame.RicePartition{Param: k})
			bits += b
			if k > 14 {
				method = frame.ResidualCodingMethodRice2
			}
		}
		if method == frame.ResidualCodingMethodRice2 {
			bits += parts * 5
		} else {
			bits += parts * 4
		}
		if bits < bestBits {
			bestBits = bits
			best = riceChoice{method: method, sub: sub}
		}
		// Merge pairs for the next coarser order.
		for p := 0; p < parts/2; p++ {
			sums[p] = sums[2*p] + sums[2*p+1]
			counts[p] = counts[2*p] + counts[2*p+1]
		}
	}
	return best, bestBits
}

// bestParam returns the Rice parameter for count folded residuals that add
// up to sum, with an estimate of their size in bits (the unary parts are
// estimated as sum>>k).
func bestParam(sum uint64, count int) (uint, int) {
	bestK, bestBits := uint(0), math.MaxInt
	for k := 0; k <= 30; k++ {
		bits := count*(k+1) + int(sum>>uint(k))
		if bits < bestBits {
			bestK, bestBits = uint(k), bits
		}
		if sum>>uint(k) == 0 {
			break
		}
	}
	return bestK, bestBits
}
