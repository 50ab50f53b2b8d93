#include "tbms/backends/text/wordnet.h"

#include <fstream>
#include <sstream>

namespace tbms::text {
namespace {

// One data.* line: "offset lex_filenum ss_type w_cnt word lex_id ... | gloss".
// The gloss is a definition, then optional examples in quotes after ';'.
bool ParseLine(const std::string& line, Example* out, uint64_t* offset) {
  if (line.empty() || line[0] == ' ') return false;  // the license header
  const size_t bar = line.find(" | ");
  if (bar == std::string::npos) return false;
  std::istringstream fields(line.substr(0, bar));
  std::string type;
  int lex = -1;
  unsigned words = 0;
  std::string word;
  fields >> *offset >> lex >> type >> std::hex >> words >> std::dec >> word;
  if (!fields || lex < 0 || lex >= static_cast<int>(LexNames().size()) || words == 0) return false;
  std::string gloss = line.substr(bar + 3);
  while (!gloss.empty() && gloss.back() == ' ') gloss.pop_back();
  const size_t semi = gloss.find("; \"");
  const std::string definition = gloss.substr(0, semi);
  if (definition.empty()) return false;
  for (char& c : word) c = c == '_' ? ' ' : c;
  out->text = definition;
  out->label = LexNames()[static_cast<size_t>(lex)];
  out->detail = word + ": " + definition;
  return true;
}

}  // namespace

const std::vector<std::string>& LexNames() {
  static const std::vector<std::string> names = {
      "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
      "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
      "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
      "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
      "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
      "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
      "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
      "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl"};
  return names;
}

StatusOr<Dataset> ReadWordnet(const std::filesystem::path& dir, int held_out_every, size_t limit) {
  Dataset data;
  size_t seen = 0;
  for (const char* part : {"data.noun", "data.verb", "data.adj", "data.adv"}) {
    const std::filesystem::path file = dir / part;
    std::ifstream in(file);
    if (!in) return NotFound(file.string() + ": cannot read it (apt-get install wordnet-base)");
    std::string line;
    while (std::getline(in, line) && (limit == 0 || seen < limit)) {
      Example e;
      uint64_t offset = 0;
      if (!ParseLine(line, &e, &offset)) continue;
      ++seen;
      // Offsets are unique per file; mixing in the part keeps the split fixed and even.
      const uint64_t h = (offset ^ (static_cast<uint64_t>(part[5]) << 40)) * 0x9E3779B97F4A7C15ull;
      auto& set = held_out_every > 0 && (h >> 32) % static_cast<uint64_t>(held_out_every) == 0 ? data.held_out
                                                                                               : data.train;
      set.push_back(std::move(e));
    }
  }
  if (data.train.empty()) return NotFound(dir.string() + ": no WordNet synsets found");
  return data;
}

}  // namespace tbms::text
