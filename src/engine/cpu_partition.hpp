#pragma once
// How the CPU backend cuts one op into tasks for its workers. At batch 1 an op is only a few times the work of
// one task, so an uneven cut idles a core: ViT-Ti's 192-wide projections used to go out as three 64-column
// tasks to two threads (2:1), its three attention heads as three tasks (2:1). The plans below pick the cut
// whose simulated finish time, under the workers' first-come hand-out, is earliest.

namespace vitvk {

// The output of a linear layer, M rows x N columns, as mb row blocks of `rows` by nb column blocks of `cols`.
struct LinearPlan {
  int mb = 1, nb = 1, rows = 0, cols = 0;
  int tasks() const { return mb * nb; }
};

// threads: workers; align: column granularity (the kernel's panel width); max_rows: the tallest row block
// worth having (its activations stay in cache); tile_rows: the kernel's register-tile height; K: the inner
// dimension (a task's fixed cost weighs less against a deeper product).
LinearPlan plan_linear(int M, int N, int K, int threads, int align, int max_rows, int tile_rows);

// Into how many query-row ranges to cut each of `units` (image, head) attention problems for `threads`
// workers: 1 when the units already share out evenly, else the smallest cut (up to 4) with the best balance.
int attention_row_chunks(int units, int threads);

}  // namespace vitvk
