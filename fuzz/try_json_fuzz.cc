// libFuzzer harness: the try JSON parser (POST /v1/instances/{i}/try bodies)
// against a table with models, versions, an A/B split, nested mixes and a
// task. Any input must parse or fail with a Status — never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tbms/server/try_json.h"

namespace {

using namespace tbms;

void Serve(ModelTable& table, const std::string& name, std::vector<std::string> versions) {
  auto config = std::make_shared<ModelConfig>();
  config->name = name;
  config->backend = "simulated";
  config->est = Millis(10);
  std::vector<std::shared_ptr<ModelVersion>> served;
  for (const std::string& v : versions) {
    auto version = std::make_shared<ModelVersion>();
    version->name = name;
    version->version = v;
    served.push_back(version);
  }
  table.models[name].Assign(config, served);  // no weights: the latest serves
}

void ServeMix(ModelTable& table, const std::string& name, std::vector<std::string> members) {
  auto config = std::make_shared<ModelConfig>();
  config->name = name;
  config->backend = "mix";
  config->members = std::move(members);
  table.models[name].Assign(config, {});
}

std::shared_ptr<const ModelTable> Table() {
  auto table = std::make_shared<ModelTable>();
  Serve(*table, "svm", {"1"});
  Serve(*table, "bayes", {"1", "2"});
  ServeMix(*table, "mix1", {"svm", "bayes"});
  ServeMix(*table, "mix2", {"mix1", "svm"});
  InstanceConfig qa;
  qa.name = "i";
  TaskConfig task;
  task.name = "qa";
  task.models = {"mix2", "svm"};
  task.tloc = Millis(50);
  qa.tasks.emplace("qa", task);
  auto access = std::make_shared<HouseAccess>();
  access->instances.push_back(qa);
  access->declared = true;
  table->access = std::move(access);
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const ModelTable> table = Table();
  auto parsed = ParseTryRequest(std::string_view(reinterpret_cast<const char*>(data), size), table, "i");
  if (parsed.ok()) {
    for (const Candidate& c : parsed->request.candidates) {
      if (c.first + c.count > parsed->request.members.size()) __builtin_trap();  // spans stay inside
    }
  }
  return 0;
}
