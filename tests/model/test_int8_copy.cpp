// save_int8_copy (model/quantize.hpp), what `vitvk quantize` and vitvk::quantize_model write: every ViT-family
// checkpoint of the zoo (registers, layer scale, qk-norm, CLIP's pre-norm, SigLIP's attention pool, F16 / BF16
// files) becomes an int8 file that loads as the model it was written from, keeps every other tensor's bytes and the
// config and licence files, and runs with the same bits; misuse is refused with the reason.
#include <catch2/catch.hpp>

#include <filesystem>
#include <iterator>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/factory.hpp"
#include "model/model.hpp"
#include "model/quantize.hpp"
#include "model/safetensors.hpp"
#include "support/random.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "support/zoo_golden.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> int8_logits(std::shared_ptr<const Model> m) {
  const ModelDims& d = m->dims;
  const auto images = test::random_floats(std::size_t(2) * d.channels * d.img_h * d.img_w, 9);
  BackendRequest req;
  req.backend = BackendChoice::Cpu;
  req.precision = PrecisionChoice::Int8;
  return make_backend(std::move(m), req)->forward(images, 2, {}).logits;
}

// The zoo's ViT-family checkpoints that load from their own directory as they are.
std::vector<fs::path> vit_family_dirs() {
  std::vector<fs::path> out;
  std::set<std::string> seen;
  for (const auto& name : test::zoo_case_names()) {
    if (name.starts_with("malformed")) continue;  // refused on load (tests/model/test_vit_zoo.cpp)
    const test::ZooCase c = test::zoo_case(name);
    if (c.config != "config.json" || c.img_size || !seen.insert(c.model_dir).second)
      continue;
    out.push_back(c.root / c.model_dir);
  }
  return out;
}

}  // namespace

TEST_CASE("int8 copy: every ViT-family zoo checkpoint, written and read back, is the quantized model",
          "[model][int8]") {
  const auto dirs = vit_family_dirs();
  REQUIRE(dirs.size() >= 15);
  for (const fs::path& src : dirs) {
    for (int group : {0, 16}) {
      INFO(src.filename().string() << ", group " << group);
      Model m = Model::load(src);
      REQUIRE(m.dims.family == ModelFamily::ViT);
      quantize_int8(m, group);
      test::TempDir out;
      CHECK(save_int8_copy(m, out.path()) == 4 * m.dims.depth);

      const auto back = std::make_shared<const Model>(Model::load(out.path()));
      for (std::size_t i = 0; i < m.weights.blocks.size(); ++i) {
        const BlockWeights &a = m.weights.blocks[i], &b = back->weights.blocks[i];
        for (auto [x, y] : {std::pair{&a.qkv, &b.qkv}, {&a.proj, &b.proj}, {&a.fc1, &b.fc1}, {&a.fc2, &b.fc2}}) {
          CHECK(y->weight.empty());  // no fp32 copy
          CHECK(y->qweight == x->qweight);
          CHECK(y->qscale == x->qscale);
          CHECK(y->qgroup == group);
          CHECK(y->bias == x->bias);
        }
      }
      // Every other tensor as it was (dtype, shape, bytes); the int8 layers' weights I8 beside their scales.
      const SafeTensors s0 = SafeTensors::open(src / "model.safetensors");
      const SafeTensors s1 = SafeTensors::open(out.path() / "model.safetensors");
      CHECK(s1.tensors().size() == s0.tensors().size() + 4 * std::size_t(m.dims.depth));
      for (const TensorView& t : s0.tensors()) {
        const TensorView* u = s1.find(t.name);
        REQUIRE(u != nullptr);
        const bool int8 = s1.find(t.name + "_scale") != nullptr;
        const auto has = [&](const char* part) { return t.name.find(part) != std::string::npos; };
        CHECK(int8 == (t.name.starts_with("blocks.") && t.name.ends_with(".weight") &&
                       (has(".attn.qkv.") || has(".attn.proj.") || has(".mlp.fc"))));
        CHECK(u->shape == t.shape);
        if (int8) {
          CHECK(u->dtype == DType::I8);
        } else {
          CHECK(u->dtype == t.dtype);
          CHECK(std::equal(u->data.begin(), u->data.end(), t.data.begin(), t.data.end()));
        }
      }
      CHECK(s1.metadata().count(kInt8GroupKey) == (group ? 1u : 0u));
      CHECK(bytes_of(out.path() / "config.json") == bytes_of(src / "config.json"));
      // The same int8 weights, so the same bits as the model it was written from (layer scale folded alike).
      CHECK(int8_logits(back) == int8_logits(std::make_shared<const Model>(std::move(m))));
    }
  }
}

TEST_CASE("int8 copy: licence and readme files travel, other files do not, and misuse is refused", "[model][int8]") {
  const fs::path zoo = test::zoo_dir();
  test::TempDir src;
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(zoo / "deit3" / f, src.path() / f);
  for (const char* f : {"LICENSE", "LICENSE.txt", "NOTICE", "README.md", "weights.bin"})
    std::ofstream(src.path() / f) << f << " text\n";
  fs::create_directory(src.path() / "LICENSES");

  Model m = Model::load(src.path());
  // Not quantized yet.
  test::TempDir out;
  CHECK_THROWS_MATCHES(save_int8_copy(m, out.path()), Error, Catch::Predicate<Error>([](const Error& e) {
                         return e.code() == ErrorCode::InvalidArgument;
                       }));
  quantize_int8(m);
  // Its own directory.
  CHECK_THROWS_WITH(save_int8_copy(m, src.path()), Catch::Contains("the model's own directory"));
  save_int8_copy(m, out.path() / "q");
  for (const char* f : {"LICENSE", "LICENSE.txt", "NOTICE", "README.md"})
    CHECK(bytes_of(out.path() / "q" / f) == std::string(f) + " text\n");
  CHECK_FALSE(fs::exists(out.path() / "q" / "weights.bin"));
  CHECK_FALSE(fs::exists(out.path() / "q" / "LICENSES"));
  // Nothing else: the staging directory is gone.
  CHECK(std::distance(fs::directory_iterator(out.path() / "q"), fs::directory_iterator()) == 6);
  // Over an older copy: every file replaced, none left behind.
  std::ofstream(out.path() / "q" / "config.json") << "{}";
  save_int8_copy(m, out.path() / "q");
  CHECK(bytes_of(out.path() / "q" / "config.json") == bytes_of(src.path() / "config.json"));
  CHECK(Model::load(out.path() / "q").weights.blocks[0].qkv.quantized());
  CHECK(std::distance(fs::directory_iterator(out.path() / "q"), fs::directory_iterator()) == 6);
  // A failure on the way (a directory where the weights go) leaves no staging directory behind.
  fs::create_directories(out.path() / "t" / "model.safetensors");
  CHECK_THROWS_WITH(save_int8_copy(m, out.path() / "t"), Catch::Contains("cannot move it into place"));
  CHECK(std::distance(fs::directory_iterator(out.path() / "t"), fs::directory_iterator()) == 1);

  // A source file that no longer holds the loaded layers.
  {
    std::vector<TensorData> tensors;
    const SafeTensors st = SafeTensors::open(src.path() / "model.safetensors");
    for (const TensorView& t : st.tensors())
      if (t.name != "blocks.1.mlp.fc2.weight")
        tensors.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data.begin(), t.data.end())});
    save_safetensors(src.path() / "model.safetensors", tensors);
  }
  CHECK_THROWS_WITH(save_int8_copy(m, out.path() / "r"),
                    Catch::Contains("model.safetensors") && Catch::Contains("no weight tensor"));

  // A model that was not loaded from a directory.
  Model r = Model::random(test::tiny_config(), 3);
  quantize_int8(r);
  CHECK_THROWS_WITH(save_int8_copy(r, out.path() / "s"), Catch::Contains("not loaded from a directory"));
}
