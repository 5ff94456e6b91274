// The CPU backend's thread team and its work plans: every task runs exactly once, errors come back to the
// caller, idle workers wake up again, and the plans cover the output exactly once and share it out evenly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/cpu_partition.hpp"
#include "engine/cpu_workers.hpp"

using namespace vitvk;

TEST_CASE("CPU workers run every task exactly once, loop after loop", "[engine][cpu][workers]") {
  CpuWorkers workers(3);
  REQUIRE(workers.size() == 3);
  std::vector<std::atomic<int>> hits(97);
  std::atomic<int> bad_worker{0};
  for (int loop = 0; loop < 2000; ++loop) {
    const int tasks = 1 + loop % 97;
    workers.run(tasks, [&](int t, int w) {
      hits[t].fetch_add(1);
      if (w < 0 || w >= 3) bad_worker.fetch_add(1);
    });
    // Now and then let the workers fall asleep (past their spin), so the wake-up path is exercised too.
    if (loop % 250 == 0) std::this_thread::sleep_for(CpuWorkers::kSpin * 3);
  }
  CHECK(bad_worker.load() == 0);
  for (int t = 0; t < 97; ++t) {
    int expected = 0;
    for (int loop = 0; loop < 2000; ++loop) expected += t < 1 + loop % 97;
    CHECK(hits[t].load() == expected);
  }
}

TEST_CASE("CPU workers hand a task's exception to the caller and keep working", "[engine][cpu][workers]") {
  CpuWorkers workers(2);
  std::atomic<int> ran{0};
  CHECK_THROWS_AS(workers.run(50, [&](int t, int) {
    ran.fetch_add(1);
    if (t == 17) throw std::runtime_error("task 17");
  }), std::runtime_error);
  CHECK(ran.load() == 50);  // the other tasks still ran
  std::atomic<int> after{0};
  workers.run(10, [&](int, int) { after.fetch_add(1); });
  CHECK(after.load() == 10);
}

namespace {

// Every output element in exactly one task; column blocks start on the alignment.
void check_cover(int M, int N, const LinearPlan& p, int align) {
  REQUIRE(p.rows > 0);
  REQUIRE(p.cols > 0);
  CHECK(p.cols % align == 0);
  std::vector<int> seen(static_cast<std::size_t>(M) * N, 0);
  for (int t = 0; t < p.tasks(); ++t) {
    const int m0 = t / p.nb * p.rows, n0 = t % p.nb * p.cols;
    CHECK(m0 < M);
    CHECK(n0 < N);
    for (int m = m0; m < std::min(M, m0 + p.rows); ++m)
      for (int n = n0; n < std::min(N, n0 + p.cols); ++n) ++seen[static_cast<std::size_t>(m) * N + n];
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; }));
}

}  // namespace

TEST_CASE("linear plans cover the output once, in cache-sized row blocks", "[engine][cpu][workers]") {
  for (int threads : {1, 2, 3, 8})
    for (int M : {1, 7, 197, 577, 3152})
      for (int N : {5, 32, 192, 200, 1000}) {
        const LinearPlan p = plan_linear(M, N, 192, threads, 32, 256, 12);
        INFO("threads " << threads << " M " << M << " N " << N);
        check_cover(M, N, p, 32);
        CHECK(p.rows <= 256);
      }
}

TEST_CASE("linear plans share ViT-Ti's batch-1 layers evenly between two threads", "[engine][cpu][workers]") {
  // The 192-wide projections once went out as three 64-column tasks (2:1 between the threads).
  for (int N : {192, 576, 768}) {
    const LinearPlan p = plan_linear(197, N, 192, 2, 32, 256, 12);
    INFO("N " << N);
    CHECK(p.tasks() % 2 == 0);
    CHECK(p.mb == 1);  // one row block: each thread streams its own columns' weights once
    CHECK(N % p.cols == 0);  // equal column blocks
  }
}

TEST_CASE("attention is cut into query-row ranges only when heads do not share out evenly", "[engine][cpu][workers]") {
  CHECK(attention_row_chunks(3, 2) == 2);  // ViT-Ti at batch 1: 3 heads, 2 threads
  CHECK(attention_row_chunks(12, 2) == 1);
  CHECK(attention_row_chunks(48, 2) == 1);
  CHECK(attention_row_chunks(1, 2) == 2);
  CHECK(attention_row_chunks(4, 3) == 3);
  CHECK(attention_row_chunks(5, 1) == 1);
}
