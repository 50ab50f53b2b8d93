// The demo task, made from WordNet (Debian's wordnet-base, read from
// /usr/share/wordnet): describe a thing, get its lexicographer category
// (noun.animal, verb.motion, ... 45 in all) and the nearest word with its
// definition. Every synset's definition is one example; a fixed hash of the
// synset splits them into training and held-out sets, so every model is
// trained and measured on the same texts. Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <vector>

#include "tbms/backends/text/text_model.h"

namespace tbms::text {

struct Dataset {
  std::vector<Example> train;
  std::vector<Example> held_out;
};

// Reads data.noun, data.verb, data.adj and data.adv under `dir`. One example
// in `held_out_every` goes to the held-out set; `limit` > 0 keeps only that
// many synsets (for quick tests). NOT_FOUND naming the file if one is missing.
StatusOr<Dataset> ReadWordnet(const std::filesystem::path& dir, int held_out_every = 10, size_t limit = 0);

// The lexicographer file names, by number (lexnames(5) of WordNet 3.0).
const std::vector<std::string>& LexNames();

}  // namespace tbms::text
