// Offline bounds on the top model's in-time answers (see offline_bound.h).
//
// Model. Requests r = 1..n arrive at a_1 <= ... <= a_n, with deadline
// d_r = a_r + L (L = tloc). M identical replicas each run one batch at a
// time; a batch of b items takes T(b) = base + per_item * b, base, per_item
// >= 0. Request r is answered in time iff it belongs to a batch that starts
// at s >= a_r (it has arrived) and ends at s + T(b) <= d_r.
//
// The upper bound, and why it is one.
// (1) A batch that answers anyone in time has T(b) <= L, so b <= B', the
//     largest b <= B with T(b) <= L (no request is answerable if T(1) > L).
// (2) cap(w): on one replica, batches of sizes b_1..b_k in [1, B'] that do
//     not overlap and lie within an interval of length w satisfy
//     sum_i T(b_i) = k*base + per_item * sum_i b_i <= w and sum_i b_i <= k*B',
//     so they carry at most max_k min(k*B', floor((w - k*base) / per_item))
//     items (k <= w / T(1)). ReplicaCapacity computes that maximum; the
//     function of k is the minimum of a rising and a non-rising line, so its
//     maximum is at floor or ceil of the crossing k* = w / T(B').
// (3) Window lemma: for consecutive requests G = {i..j}, every batch holding
//     a member of G answered in time starts at >= a_i and ends at <= a_j + L,
//     so on each replica those batches lie within [a_i, a_j + L]. Hence at
//     most min(|G|, M * cap(a_j + L - a_i)) members of G are answered in time,
//     whatever the schedule does with other requests (batches may mix groups;
//     the lemma only counts G's members).
// (5) Density: a batch of b answering its members in time starts after the
//     last arrives and ends by the first's deadline, so its members arrive
//     within L - T(b) of each other. Let b_r be the largest b such that some
//     window of length L - T(b) holding a_r holds >= b arrivals: r can only
//     be in batches of <= b_r. Charge each member of a batch of b an equal
//     share T(b)/b of its time; since T(b)/b falls as b grows (base >= 0),
//     the share is >= c_r = T(b_r)/b_r. The batches touching G take at most
//     M * w of GPU time in all (they lie within the window of length w), so
//     the answered members of G have sum of c_r <= M * w: at most as many as
//     G's cheapest requests whose c_r fit in M * w. (b_r is found exactly up
//     to 64 and costs are rounded down to classes, both only loosening it.)
//     This is what bounds a sparse trace, where large batches cannot form.
// (4) For any partition of 1..n into consecutive groups, the sum over the
//     groups of min((3), (5)) bounds the total. The minimum over any family
//     of partitions is therefore still an upper bound; we take the minimum,
//     by dynamic programming, over partitions whose boundaries lie on a time
//     grid (step tloc/8 by default), each group spanning at most `horizon`
//     non-empty cells, and also the single group of the whole trace (the
//     plain capacity bound). Restricting the family only loosens the bound.
// The grid restriction costs little: a sustained overload of length X is
// bounded within about L / X of its true capacity (one extra L per group).
// Cost: O(n * min(B', 64)) for (5), O(cells * horizon * classes) for (4).
//
// The greedy schedule (achievable, so a lower bound on the offline optimum):
// the earliest-free replica decides at s = max(its free time, the previous
// decision), over the queue of arrived requests in deadline order (= arrival
// order: L is the same for all). Requests that cannot finish even alone
// (s + T(1) > d) are dropped. The batch is the largest b <= B' such that at
// least b queued requests have d >= s + T(b); it takes the b earliest such
// deadlines (skipping older requests that would force a smaller batch: they
// may still go in a smaller batch elsewhere). If b < B' and waiting for the
// next known arrival would allow a larger batch that still holds all b, it
// waits for it. Every batch
// it starts obeys the model above, so its count is achievable. (Waiting
// keeps the batch's own requests: the batch at the later time must still
// meet the earliest deadline of the one it replaces.)
#include "tbms/sim/offline_bound.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <queue>

#include "tbms/batching/batcher.h"

namespace tbms {
namespace {

// Batch sizes up to which the density step (5) finds b_r exactly; beyond,
// a request that can be in a batch this large is assumed to fit the largest.
constexpr int kExactBatches = 64;
// Limits on the DP's table (cells x cost classes) and work (x horizon).
constexpr size_t kMaxTable = size_t{16} << 20;
constexpr size_t kMaxWork = size_t{400} << 20;

int64_t BatchTime(const TopModelShape& s, int64_t b) { return s.base.count() + s.per_item.count() * b; }

int UsableBatch(const TopModelShape& s, Duration tloc) {
  if (BatchTime(s, 1) > tloc.count()) return 0;
  if (s.per_item.count() == 0) return s.max_batch;
  const int64_t fits = (tloc.count() - s.base.count()) / s.per_item.count();
  return static_cast<int>(std::min<int64_t>(fits, s.max_batch));
}

}  // namespace

size_t ReplicaCapacity(Duration window, const TopModelShape& shape, int usable_batch) {
  const int64_t w = window.count();
  const int64_t base = shape.base.count(), p = shape.per_item.count();
  const int64_t ub = usable_batch;
  if (ub <= 0 || w < BatchTime(shape, 1)) return 0;
  if (base == 0 && p == 0) return std::numeric_limits<size_t>::max();
  if (p == 0) return static_cast<size_t>(ub * (w / base));
  const int64_t kmax = w / BatchTime(shape, 1);
  auto items = [&](int64_t k) { return std::min(k * ub, (w - k * base) / p); };
  const int64_t k = std::min(w / BatchTime(shape, ub), kmax);
  return static_cast<size_t>(std::max(items(k), items(std::min(k + 1, kmax))));
}

StatusOr<OfflineBound> ComputeOfflineBound(const std::vector<Duration>& arrivals, Duration tloc,
                                           const TopModelShape& shape,
                                           const OfflineBoundOptions& options) {
  if (tloc <= Duration(0)) return InvalidArgument("offline bound: tloc must be > 0");
  if (shape.base < Duration(0) || shape.per_item < Duration(0)) {
    return InvalidArgument("offline bound: service times must be >= 0");
  }
  if (shape.max_batch < 1 || shape.max_batch > Batcher::kMaxBatchSize) {
    return InvalidArgument("offline bound: max batch must be in [1, " + std::to_string(Batcher::kMaxBatchSize) + "]");
  }
  if (shape.replicas < 1 || shape.replicas > 10'000'000) {
    return InvalidArgument("offline bound: replicas must be in [1, 10000000]");
  }
  if (options.grid < Duration(0) || options.horizon < 1) {
    return InvalidArgument("offline bound: grid must be >= 0 and horizon >= 1");
  }
  if (!std::is_sorted(arrivals.begin(), arrivals.end())) {
    return InvalidArgument("offline bound: arrivals must be in ascending order");
  }
  OfflineBound out;
  const size_t n = arrivals.size();
  out.requests = n;
  out.usable_batch = UsableBatch(shape, tloc);
  if (n == 0 || out.usable_batch == 0) return out;

  const int ub = out.usable_batch;
  const auto M = static_cast<size_t>(shape.replicas);
  const int64_t L = tloc.count();
  std::vector<int64_t> a(n);
  for (size_t r = 0; r < n; ++r) a[r] = arrivals[r].count();

  // (5) Density: the largest batch each request can be in, b_r.
  std::vector<int> largest(n, 1);
  const int exact = std::min(ub, kExactBatches);
  {
    std::vector<size_t> count(n);  // count[s]: arrivals in [a_s, a_s + spread]
    std::deque<size_t> window;     // candidates s for the max, count[s] decreasing
    for (int b = 2; b <= exact; ++b) {
      const int64_t spread = L - BatchTime(shape, b);  // >= 0: b <= B'
      for (size_t s = 0, hi = 0; s < n; ++s) {
        hi = std::max(hi, s);
        while (hi < n && a[hi] <= a[s] + spread) ++hi;
        count[s] = hi - s;
      }
      bool any = false;
      window.clear();
      for (size_t r = 0; r < n; ++r) {
        while (!window.empty() && count[window.back()] <= count[r]) window.pop_back();
        window.push_back(r);
        while (a[window.front()] < a[r] - spread) window.pop_front();
        if (largest[r] == b - 1 && count[window.front()] >= static_cast<size_t>(b)) {
          largest[r] = b;
          any = true;
        }
      }
      if (!any) break;
    }
    if (ub > exact) {
      for (int& b : largest) b = b == exact ? ub : b;  // not resolved further: the cheapest
    }
  }
  // Cost classes: b itself up to 16, else powers of two [2^k, 2^(k+1)), each
  // costing T(b)/b of its largest b (the cheapest, so the bound stays sound).
  const bool by_size = ub <= 16;
  const int classes = by_size ? ub : std::bit_width(static_cast<unsigned>(ub));
  auto class_of = [&](int b) { return by_size ? b - 1 : std::bit_width(static_cast<unsigned>(b)) - 1; };
  std::vector<double> cost(static_cast<size_t>(classes));
  for (int k = 0; k < classes; ++k) {
    const int top = by_size ? k + 1 : std::min(ub, (2 << k) - 1);
    cost[static_cast<size_t>(k)] = static_cast<double>(BatchTime(shape, top)) / top;
  }

  // Groups are runs of whole grid cells (4); the whole trace is one of them.
  // Keep the table below within kMaxTable entries: a coarser grid is still sound.
  const int64_t grid = std::max(options.grid > Duration(0) ? options.grid.count() : std::max<int64_t>(1, L / 8),
                                (a[n - 1] - a[0]) / static_cast<int64_t>(kMaxTable / classes) + 1);
  std::vector<size_t> starts{0};  // the first request of each non-empty cell, then n
  for (size_t r = 1; r < n; ++r) {
    if ((a[r] - a[0]) / grid != (a[r - 1] - a[0]) / grid) starts.push_back(r);
  }
  starts.push_back(n);
  const size_t cells = starts.size() - 1;
  // Requests of each class before each cell: pre[c * classes + k].
  const auto K = static_cast<size_t>(classes);
  std::vector<uint32_t> pre((cells + 1) * K, 0);
  for (size_t c = 0; c < cells; ++c) {
    std::copy_n(pre.begin() + static_cast<ptrdiff_t>(c * K), K, pre.begin() + static_cast<ptrdiff_t>((c + 1) * K));
    for (size_t r = starts[c]; r < starts[c + 1]; ++r) ++pre[(c + 1) * K + static_cast<size_t>(class_of(largest[r]))];
  }

  // The bound for the group of cells [u, v): (3) and (5).
  auto group_bound = [&](size_t u, size_t v) -> size_t {
    const size_t i = starts[u], j = starts[v] - 1;
    const size_t count = j - i + 1;
    const int64_t w = a[j] - a[i] + L;
    size_t bound = count;
    const size_t cap = ReplicaCapacity(Duration(w), shape, ub);
    if (cap < (count + M - 1) / M) bound = M * cap;  // M * cap < count, without overflow
    // (5): the cheapest requests first, within M * w of GPU time (with a
    // hair of slack for rounding: it can only raise the bound).
    double budget = static_cast<double>(M) * static_cast<double>(w) * (1 + 1e-9);
    size_t fit = 0;
    for (size_t k = K; k-- > 0;) {
      const size_t nk = pre[v * K + k] - pre[u * K + k];
      if (nk == 0) continue;
      const double can = cost[k] > 0 ? std::floor(budget / cost[k]) : static_cast<double>(nk);
      if (can < static_cast<double>(nk)) {
        fit += static_cast<size_t>(can);
        return std::min(bound, fit);
      }
      fit += nk;
      budget -= static_cast<double>(nk) * cost[k];
    }
    return std::min(bound, fit);
  };
  out.capacity_bound = group_bound(0, cells);

  // Shorter groups when the DP would be too slow (sparse, long traces): sound.
  const size_t horizon = std::max<size_t>(
      std::min<size_t>(options.horizon, kMaxWork / std::max<size_t>(1, cells * K)), 8);
  std::vector<size_t> best(cells + 1, 0);  // best[v] bounds the requests before cell v
  for (size_t v = 1; v <= cells; ++v) {
    size_t b = std::numeric_limits<size_t>::max();
    const size_t first = v > horizon ? v - horizon : 0;
    for (size_t u = first; u < v; ++u) b = std::min(b, best[u] + group_bound(u, v));
    best[v] = b;
  }
  out.upper_bound = std::min(best[cells], out.capacity_bound);

  // The greedy schedule.
  const int64_t t1 = BatchTime(shape, 1);
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> free_at;
  for (size_t m = 0; m < M; ++m) free_at.push(a[0]);
  std::deque<int64_t> queue;  // deadlines of arrived requests, ascending
  size_t next = 0;            // the next arrival not yet queued
  auto admit = [&](int64_t t) {
    while (next < n && a[next] <= t) queue.push_back(a[next++] + L);
  };
  auto drop = [&](int64_t t) {
    while (!queue.empty() && queue.front() < t + t1) queue.pop_front();
  };
  // Requests with deadline >= x among the queue and arrivals [next, end).
  auto count_from = [&](int64_t x, size_t end) {
    size_t c = static_cast<size_t>(queue.end() - std::lower_bound(queue.begin(), queue.end(), x));
    c += static_cast<size_t>(a.begin() + static_cast<ptrdiff_t>(end) -
                             std::lower_bound(a.begin() + static_cast<ptrdiff_t>(next),
                                              a.begin() + static_cast<ptrdiff_t>(end), x - L));
    return c;
  };
  // The largest batch startable at t (0 if none): feasibility is monotone in b.
  auto fit = [&](int64_t t, size_t end) {
    int lo = 0, hi = ub;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (count_from(t + BatchTime(shape, mid), end) >= static_cast<size_t>(mid)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  };
  int64_t now = a[0];
  while (true) {
    int64_t s = std::max(free_at.top(), now);
    admit(s);
    drop(s);
    if (queue.empty()) {
      if (next == n) break;
      s = a[next];
      admit(s);
    }
    int b = fit(s, next);
    // Wait for known arrivals while that grows this batch: the batch at the
    // next arrival must keep every request of the one at s (its earliest
    // deadline, head, must still be met), so waiting only adds requests.
    while (b < ub && next < n) {
      const int64_t t = a[next];
      const auto end = static_cast<size_t>(std::upper_bound(a.begin() + static_cast<ptrdiff_t>(next),
                                                            a.end(), t) - a.begin());
      const int64_t head = *std::lower_bound(queue.begin(), queue.end(), s + BatchTime(shape, b));
      int grown = fit(t, end);
      while (grown > b && t + BatchTime(shape, grown) > head) --grown;
      if (grown <= b) break;
      s = t;
      admit(s);
      drop(s);
      b = grown;
    }
    const int64_t end_time = s + BatchTime(shape, b);
    const auto first = std::lower_bound(queue.begin(), queue.end(), end_time);
    queue.erase(first, first + b);
    free_at.pop();
    free_at.push(end_time);
    now = s;
    out.greedy += static_cast<size_t>(b);
    ++out.greedy_batches;
  }
  return out;
}

}  // namespace tbms
