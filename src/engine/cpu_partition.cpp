#include "engine/cpu_partition.hpp"

#include <algorithm>
#include <functional>
#include <queue>
#include <vector>

namespace vitvk {
namespace {

int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Finish time of tasks handed out in order, each to the worker that is free first.
double makespan(const std::vector<double>& costs, int threads) {
  std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
  for (int i = 0; i < threads; ++i) free_at.push(0.0);
  double end = 0;
  for (double c : costs) {
    const double t = free_at.top() + c;
    free_at.pop();
    free_at.push(t);
    end = std::max(end, t);
  }
  return end;
}

}  // namespace

LinearPlan plan_linear(int M, int N, int K, int threads, int align, int max_rows, int tile_rows) {
  LinearPlan best;
  if (M <= 0 || N <= 0) return best;
  const int panels = ceil_div(N, align), mb_min = ceil_div(M, max_rows);
  // Cost in units of one row through one column panel (align columns x K). A register tile adds a fixed cost
  // (loading its accumulators, storing its outputs), and so does streaming a panel of weights past a row block
  // (which is why splitting rows, and re-reading the weights, is a last resort); a task costs its hand-out.
  const double tile_cost = 3, panel_cost = 4, task_cost = std::max(1.0, 4096.0 / std::max(1, K));
  const auto cost = [&](int r, int c) {
    if (r <= 0 || c <= 0) return 0.0;
    return ceil_div(c, align) * (r + tile_cost * ceil_div(r, tile_rows) + panel_cost) + task_cost;
  };
  double best_time = 0;
  std::vector<double> costs;
  // Beyond a few tasks per worker the hand-out balances by itself: the search stays small for many threads.
  const int mb_max = std::min(M, mb_min + std::min(2 * threads, 16)), nb_max = std::min({panels, 2 * threads, 32});
  const int max_tasks = std::max(mb_min + 2 * threads, 4 * threads);
  for (int mb = mb_min; mb <= mb_max; ++mb) {
    const int rows = ceil_div(M, mb);
    if (mb > mb_min && ceil_div(M, rows) != mb) continue;  // same cut as a smaller mb
    for (int nb = 1; nb <= nb_max; ++nb) {
      const int cols = ceil_div(panels, nb) * align;
      if (nb > 1 && ceil_div(N, cols) != nb) continue;
      if (mb * nb > max_tasks) break;
      costs.clear();
      for (int i = 0; i < mb; ++i)
        for (int j = 0; j < nb; ++j)
          costs.push_back(cost(std::min(M, (i + 1) * rows) - i * rows, std::min(N, (j + 1) * cols) - j * cols));
      const double t = makespan(costs, threads);
      if (best.rows == 0 || t < best_time) best = {mb, nb, rows, cols}, best_time = t;
    }
  }
  return best;
}

int attention_row_chunks(int units, int threads) {
  if (units <= 0 || threads <= 1 || units % threads == 0) return 1;
  int best = 1;
  double best_time = ceil_div(units, threads);
  for (int c = 2; c <= 4; ++c) {
    const double t = static_cast<double>(ceil_div(units * c, threads)) / c;
    if (t < best_time - 1e-9) best = c, best_time = t;
  }
  return best;
}

}  // namespace vitvk
