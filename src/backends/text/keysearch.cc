// Keysearch: BM25 retrieval over the training examples (Xapian), answered by
// a weighted vote of the best matches' labels.
//
// Artifacts: `<dir>/index/`, a Xapian database with one document per
// example (indexed text = the example's text, English stemming, no
// positions: questions are searched as bags of words, and positions would
// add 82 MB to the demo's 51 MB index; data = label '\t' detail).
#include <xapian.h>

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <system_error>
#include <utility>

#include "tbms/backends/text/text_model.h"
#include "tbms/common/mutex.h"

namespace tbms::text {
namespace {

constexpr Xapian::doccount kMatches = 20;  // matches that vote per question
constexpr const char* kIndexDir = "index";

// One handle for searching: Xapian objects (Database, Stem, Enquire) are
// reference counted without atomics and keep per-handle state, so a
// Searcher is only ever used by one thread at a time.
struct Searcher {
  explicit Searcher(const std::string& path) : db(path), enquire(db) {
    parser.set_stemmer(Xapian::Stem("english"));
    parser.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
    parser.set_default_op(Xapian::Query::OP_OR);
    enquire.set_weighting_scheme(Xapian::BM25Weight());
  }
  Xapian::Database db;
  Xapian::QueryParser parser;
  Xapian::Enquire enquire;
};

// The k labels with the most BM25 weight among the matches, best first.
// Each label's detail is that of its best match.
std::vector<Prediction> Vote(const Xapian::MSet& mset, int k) {
  struct Tally {
    double weight = 0;
    Xapian::doccount first = 0;  // rank of the label's best match
    std::string detail;
  };
  std::map<std::string, Tally> tallies;
  double total = 0;
  Xapian::doccount rank = 0;
  for (auto it = mset.begin(); it != mset.end(); ++it, ++rank) {
    const double w = std::max(0.0, it.get_weight());
    const std::string data = it.get_document().get_data();
    const size_t tab = data.find('\t');
    const std::string label = data.substr(0, tab);
    auto [slot, inserted] = tallies.try_emplace(label);
    if (inserted) {
      slot->second.first = rank;
      if (tab != std::string::npos) slot->second.detail = data.substr(tab + 1);
    }
    slot->second.weight += w;
    total += w;
  }
  std::vector<std::pair<std::string, Tally>> ranked(tallies.begin(), tallies.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    if (a.second.weight != b.second.weight) return a.second.weight > b.second.weight;
    return a.second.first < b.second.first;
  });
  if (static_cast<int>(ranked.size()) > k) ranked.resize(std::max(k, 0));
  std::vector<Prediction> out;
  out.reserve(ranked.size());
  for (auto& [label, tally] : ranked) {
    out.push_back({label, total > 0 ? tally.weight / total : 0.0, std::move(tally.detail)});
  }
  return out;
}

// Loaded model. Safe for concurrent use: each Predict call borrows a
// Searcher from a small pool (opening a new one when all are busy) and
// returns it when done, so no Xapian object is shared between threads.
// A pool rather than a Database per call (reopening costs a few syscalls
// and drops Xapian's block cache) or a thread_local (which would outlive
// this model and need keying by path); it grows to the number of
// replicas that call at once and no further.
class KeysearchModel final : public TextModel {
 public:
  KeysearchModel(std::string path, std::unique_ptr<Searcher> first) : path_(std::move(path)) {
    free_.push_back(std::move(first));
  }

  // One search per question, each the cost of its terms: checked one by one.
  size_t items_per_predict() const override { return 1; }

  std::vector<std::vector<Prediction>> Predict(const std::vector<std::string_view>& texts,
                                               int k) const override {
    std::vector<std::vector<Prediction>> out(texts.size());
    std::unique_ptr<Searcher> searcher = Acquire();
    if (searcher == nullptr) return out;  // the index could not be reopened: no answers
    bool healthy = true;
    for (size_t i = 0; i < texts.size() && healthy; ++i) {
      // Questions are not query syntax: search the lower-cased words, which
      // also lets STEM_SOME stem every word (it skips capitalised ones).
      std::string words;
      for (const std::string& w : Tokenize(texts[i])) words += w + ' ';
      if (words.empty()) continue;
      try {
        searcher->enquire.set_query(searcher->parser.parse_query(words, /*flags=*/0));
        out[i] = Vote(searcher->enquire.get_mset(0, kMatches), k);
      } catch (const Xapian::Error&) {
        healthy = false;  // leave the rest unanswered; drop this handle
      }
    }
    if (healthy) Release(std::move(searcher));
    return out;
  }

 private:
  std::unique_ptr<Searcher> Acquire() const EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      if (!free_.empty()) {
        std::unique_ptr<Searcher> s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    try {
      return std::make_unique<Searcher>(path_);
    } catch (const Xapian::Error&) {
      return nullptr;
    }
  }
  void Release(std::unique_ptr<Searcher> s) const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    free_.push_back(std::move(s));
  }

  // Constant after construction.
  const std::string path_;

  mutable Mutex mu_;
  mutable std::vector<std::unique_ptr<Searcher>> free_ GUARDED_BY(mu_);  // idle searchers
};

}  // namespace

Status TrainKeysearch(const std::vector<Example>& examples, const std::filesystem::path& dir) {
  if (examples.empty()) return InvalidArgument("keysearch: no examples to train on");
  for (const Example& e : examples) {
    if (e.label.empty() || e.label.find('\t') != std::string::npos) {
      return InvalidArgument("keysearch: labels must be non-empty and hold no tab");
    }
  }
  const std::filesystem::path path = dir / kIndexDir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("keysearch: cannot create " + dir.string() + ": " + ec.message());
  try {
    Xapian::WritableDatabase db(path.string(), Xapian::DB_CREATE_OR_OVERWRITE);
    Xapian::TermGenerator indexer;
    indexer.set_stemmer(Xapian::Stem("english"));
    for (const Example& e : examples) {
      Xapian::Document doc;
      indexer.set_document(doc);
      indexer.index_text_without_positions(e.text);
      doc.set_data(e.label + '\t' + e.detail);
      db.add_document(doc);
    }
    db.commit();
    db.close();
  } catch (const Xapian::Error& e) {
    return Internal("keysearch: cannot write " + path.string() + ": " + e.get_description());
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<TextModel>> LoadKeysearch(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kIndexDir;
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    return FailedPrecondition("keysearch: missing index folder " + path.string());
  }
  try {
    auto searcher = std::make_unique<Searcher>(path.string());
    if (searcher->db.get_doccount() == 0) {
      return FailedPrecondition("keysearch: index " + path.string() + " has no documents");
    }
    // Reading one document checks more than the version file.
    (void)searcher->db.get_document(*searcher->db.postlist_begin("")).get_data();
    return std::unique_ptr<TextModel>(new KeysearchModel(path.string(), std::move(searcher)));
  } catch (const Xapian::Error& e) {
    return FailedPrecondition("keysearch: cannot open index " + path.string() + ": " +
                              e.get_description());
  }
}

}  // namespace tbms::text
