// tbms house build: trains the demo house's four text models on WordNet
// (Debian's wordnet-base), measures each on the held-out definitions, and
// writes a versioned house: one folder per model with model.toml and its
// version folder, two mixes, and instance nianjianQA whose task `qa` ranks the
// models by measured top-1 accuracy. Also writes quality.md, the quality and
// cost table (docs/quality.md is this file for the full data set).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "replicas_flag.h"
#include "tbms/backends/text/wordnet.h"
#include "tbms/house/config.h"

namespace tbms::tools {
namespace {

// The demo's access keys: secrets from the server's environment, which
// ./scripts/run fills from build/keys/ (docs/security.md).
constexpr std::string_view kKeysToml =
    "[admin]\nkeys = [{ id = \"admin\", secret_env = \"TBMS_ADMIN_KEY\" }]\n\n"
    "[instances.nianjianQA]\nkeys = [{ id = \"nianjianQA\", secret_env = \"TBMS_NIANJIANQA_KEY\" }]\n";

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BuildFlags {
  std::string out;
  std::string wordnet = "/usr/share/wordnet";
  size_t limit = 0;
  int replicas = 1;
};

struct Model {
  std::string name;
  Status (*train)(const std::vector<text::Example>&, const fs::path&);
  StatusOr<std::unique_ptr<text::TextModel>> (*load)(const fs::path&);
};

struct Measured {
  std::string name;
  double top1 = 0, top5 = 0;
  std::vector<std::pair<int, double>> ms_by_batch;  // batch size, median ms
  double train_s = 0;
};

const std::vector<Model>& Models() {
  static const std::vector<Model> models = {
      {"keysearch", &text::TrainKeysearch, &text::LoadKeysearch},
      {"bayes", &text::TrainBayes, &text::LoadBayes},
      {"svm", &text::TrainSvm, &text::LoadSvm},
      {"embedding", &text::TrainEmbedding, &text::LoadEmbedding},
  };
  return models;
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Top-1 and top-5 accuracy over the held-out set, in batches of 64.
void MeasureAccuracy(const text::TextModel& model, const std::vector<text::Example>& held_out, Measured* m) {
  size_t top1 = 0, top5 = 0;
  for (size_t start = 0; start < held_out.size(); start += 64) {
    std::vector<std::string_view> texts;
    for (size_t i = start; i < std::min(held_out.size(), start + 64); ++i) texts.push_back(held_out[i].text);
    const auto predictions = model.Predict(texts, 5);
    for (size_t i = 0; i < texts.size() && i < predictions.size(); ++i) {
      const std::string& want = held_out[start + i].label;
      for (size_t r = 0; r < predictions[i].size(); ++r) {
        if (predictions[i][r].label != want) continue;
        top1 += r == 0;
        ++top5;
        break;
      }
    }
  }
  m->top1 = held_out.empty() ? 0 : static_cast<double>(top1) / static_cast<double>(held_out.size());
  m->top5 = held_out.empty() ? 0 : static_cast<double>(top5) / static_cast<double>(held_out.size());
}

// Median service time of whole batches (1, 4, 16, 64 held-out questions).
void MeasureCost(text::TextModel& model, const std::vector<text::Example>& held_out, Measured* m) {
  for (int size : {1, 4, 16, 64}) {
    std::vector<double> ms;
    for (int run = 0; run < 15; ++run) {
      Batch batch;
      for (int i = 0; i < size; ++i) {
        const auto& e = held_out[static_cast<size_t>(run * size + i) % held_out.size()];
        batch.items.push_back(std::make_shared<const Inputs>(e.text));
      }
      const auto start = Clock::now();
      (void)model.Process(batch);
      ms.push_back(Seconds(start) * 1000);
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    m->ms_by_batch.emplace_back(size, ms[ms.size() / 2]);
  }
}

Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return out ? OkStatus() : Unavailable("cannot write " + path.string());
}

// est: the measured single-question time with headroom, at least 1 ms.
std::string ModelToml(const Measured& m, int replicas) {
  const double est = std::max(1.0, std::ceil(m.ms_by_batch[0].second * 1.5));
  std::ostringstream s;
  s << "# Trained by `tbms house build` on WordNet; held-out top-1 accuracy "
    << std::fixed << std::setprecision(3) << m.top1 << ".\n"
    << "backend = \"" << m.name << "\"\nest = " << est << "\n" << kReplicasKey << " = " << replicas
    << "\n\n[batching]\nmax_batch_size = 64\nmax_queue_delay_ms = 1\n";
  return s.str();
}

std::string Table(const std::vector<Measured>& measured, const text::Dataset& data) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(3);
  s << "| model | top-1 | top-5 | batch 1 (ms) | batch 4 | batch 16 | batch 64 | training (s) |\n"
    << "|---|---|---|---|---|---|---|---|\n";
  for (const Measured& m : measured) {
    s << "| " << m.name << " | " << m.top1 << " | " << m.top5;
    for (const auto& [size, ms] : m.ms_by_batch) s << " | " << ms;
    s << " | " << std::setprecision(1) << m.train_s << std::setprecision(3) << " |\n";
  }
  s << "\n" << data.train.size() << " training and " << data.held_out.size()
    << " held-out WordNet definitions; the label is one of " << text::LexNames().size()
    << " lexicographer categories. Batch times are the median of 15 whole batches of held-out "
       "questions through the backend on one thread.\n";
  return s.str();
}

Status WriteHouse(const BuildFlags& f, std::vector<Measured> measured) {
  const fs::path out(f.out);
  for (const Measured& m : measured) TBMS_RETURN_IF_ERROR(WriteFile(out / m.name / "model.toml", ModelToml(m, f.replicas)));
  fs::create_directories(out / "mix1");
  fs::create_directories(out / "mix2");
  TBMS_RETURN_IF_ERROR(WriteFile(out / "mix1" / "model.toml",
                                 "backend = \"mix\"\nmembers = [\"embedding\", \"svm\"]\naggregator = \"max\"\n"));
  TBMS_RETURN_IF_ERROR(WriteFile(out / "mix2" / "model.toml",
                                 "backend = \"mix\"\nmembers = [\"bayes\", \"keysearch\"]\naggregator = \"avg\"\n"));
  std::stable_sort(measured.begin(), measured.end(), [](const Measured& a, const Measured& b) { return a.top1 > b.top1; });
  std::string models;
  for (const Measured& m : measured) models += (models.empty() ? "\"" : ", \"") + m.name + "\"";
  return WriteFile(out / "instances.toml",
                   "# The talk's instance. Task qa ranks the models by measured top-1 accuracy.\n" +
                       std::string(kKeysToml) + "\n[instances.nianjianQA.tasks.qa]\nmodels = [" + models +
                       "]\ntloc = 50\ncrossRequest = 1\ncrossLag = 10\n");
}

int Build(const BuildFlags& f) {
  auto start = Clock::now();
  auto data = text::ReadWordnet(f.wordnet, 10, f.limit);
  if (!data.ok()) {
    std::cerr << "tbms house build: " << data.status().message() << "\n";
    return 1;
  }
  std::cout << "read " << data->train.size() + data->held_out.size() << " WordNet synsets ("
            << data->held_out.size() << " held out) in " << std::setprecision(2) << Seconds(start) << " s" << std::endl;
  std::vector<Measured> measured;
  size_t step = 0;
  for (const Model& model : Models()) {
    Measured m;
    m.name = model.name;
    const fs::path dir = fs::path(f.out) / model.name / "1";
    std::cout << "[" << ++step << "/" << Models().size() << "] " << model.name << ": training..." << std::flush;
    start = Clock::now();
    Status s = model.train(data->train, dir);
    m.train_s = Seconds(start);
    auto loaded = s.ok() ? model.load(dir) : StatusOr<std::unique_ptr<text::TextModel>>(s);
    if (!loaded.ok()) {
      std::cerr << "\ntbms house build: " << model.name << ": " << loaded.status().message() << "\n";
      return 1;
    }
    MeasureAccuracy(**loaded, data->held_out, &m);
    MeasureCost(**loaded, data->held_out, &m);
    std::cout << " " << std::setprecision(3) << m.train_s << " s, top-1 " << m.top1 << ", batch of 1 in "
              << m.ms_by_batch[0].second << " ms" << std::endl;
    measured.push_back(std::move(m));
  }
  if (Status s = WriteHouse(f, measured); !s.ok()) {
    std::cerr << "tbms house build: " << s.message() << "\n";
    return 1;
  }
  if (Status s = WriteFile(fs::path(f.out) / "quality.md", Table(measured, *data)); !s.ok()) {
    std::cerr << "tbms house build: " << s.message() << "\n";
    return 1;
  }
  std::cout << "wrote the house to " << f.out << " (quality and cost: " << f.out << "/quality.md)" << std::endl;
  return 0;
}

}  // namespace

void AddHouseBuild(CLI::App* house) {
  auto flags = std::make_shared<BuildFlags>();
  CLI::App* cmd = house->add_subcommand(
      "build", "Train the demo house's four text models (keysearch, bayes, svm, embedding) on WordNet, "
               "measure them on held-out definitions, and write a versioned house with task qa ranked "
               "by measured quality, and quality.md");
  cmd->add_option("--out", flags->out, "The house folder to write")
      ->required()
      ->check(CLI::Validator([](std::string& dir) { return dir.empty() ? "must name a folder" : ""; }, "", "NOT_EMPTY"));
  cmd->add_option("--wordnet", flags->wordnet, "WordNet's data files (Debian: wordnet-base)")->capture_default_str();
  cmd->add_option("--limit", flags->limit, "Use only this many synsets (0: all), for quick tests")
      ->capture_default_str();
  for (CLI::Option* o : AddReplicasFlag(cmd, flags->replicas, "Replicas (threads) per model, written to model.toml")) {
    o->check(CLI::Range(1, 64))->capture_default_str();
  }
  cmd->callback([flags] { SetExitCode(Build(*flags)); });
}

}  // namespace tbms::tools
