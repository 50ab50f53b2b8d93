#include "tbms/server/v2_api.h"

#include <boost/asio/post.hpp>

#include "tbms/common/json_writer.h"
#include "tbms/server/http_server.h"
#include "tbms/server/json_fields.h"
#include "tbms/server/try_json.h"

namespace tbms {
namespace {

constexpr std::string_view kModels = "/v2/models/";
constexpr std::string_view kRepository = "/v2/repository/";
const std::string kInstance = "v2";  // how infers are counted in the report channel


HttpReply Error(int status, std::string_view message) { return {status, ErrorJson(message)}; }
HttpReply ErrorOf(const Status& s) { return Error(HttpStatusOf(s.code()), s.message()); }

// Splits "a/b/c" into its parts (at most 4; more is "too many").
std::vector<std::string_view> Split(std::string_view rest) {
  std::vector<std::string_view> parts;
  while (parts.size() <= 4) {
    const size_t slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

void WriteTensorSpecs(JsonWriter& w, std::string_view key, const std::vector<TensorSpec>& specs) {
  w.Key(key).BeginArray();
  for (const TensorSpec& t : specs) {
    w.BeginObject().Key("name").String(t.name).Key("datatype").String(DataTypeName(t.datatype));
    w.Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray().EndObject();
  }
  w.EndArray();
}

std::string Metadata(const ServedModel& m, std::string_view version) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Key("name").String(m.config->name).Key("versions").BeginArray();
  for (const auto& v : m.versions) {
    if (version.empty() || v->version == version) w.String(v->version);
  }
  w.EndArray().Key("platform").String("tbms_" + m.config->backend);
  WriteTensorSpecs(w, "inputs", m.config->inputs);
  WriteTensorSpecs(w, "outputs", m.config->outputs);
  w.EndObject();
  return out;
}

bool ShapeFits(const std::vector<int64_t>& spec, const std::vector<int64_t>& shape) {
  if (spec.size() != shape.size()) return false;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] != -1 && spec[i] != shape[i]) return false;
  }
  return true;
}

// The inputs must be the model's: each declared once, of its datatype and shape.
Status CheckInputs(const ModelConfig& config, const std::vector<Tensor>& inputs) {
  if (config.is_mix()) return OkStatus();  // each member reads what it needs
  for (const Tensor& t : inputs) {
    const TensorSpec* spec = nullptr;
    for (const TensorSpec& s : config.inputs) spec = s.name == t.name ? &s : spec;
    if (spec == nullptr) return InvalidArgument("model " + Quote(config.name) + " has no input " + Quote(t.name));
    if (spec->datatype != t.datatype) {
      return InvalidArgument("input " + Quote(t.name) + " must be " + std::string(DataTypeName(spec->datatype)) +
                             ", got " + std::string(DataTypeName(t.datatype)));
    }
    if (!ShapeFits(spec->shape, t.shape)) {
      return InvalidArgument("input " + Quote(t.name) + " must have shape " + ShapeText(spec->shape) +
                             " (-1: any), got " + ShapeText(t.shape));
    }
  }
  for (const TensorSpec& s : config.inputs) {
    bool given = false;
    for (const Tensor& t : inputs) given = given || t.name == s.name;
    if (!given) return InvalidArgument("input " + Quote(s.name) + " is required");
  }
  return OkStatus();
}

// The v2 response for a finished infer: its outputs, or why there is none.
HttpReply InferReply(const TryResult& r, const std::vector<TensorSpec>& outputs, const std::string& id) {
  if (!r.answer) {
    const int status = r.reason == Reason::kError ? 500 : 503;
    return Error(status, "no answer from model " + Quote(r.attempts.empty() ? "" : r.attempts[0].model) +
                             " within the deadline: " + std::string(ReasonName(r.reason)));
  }
  InferResponse response;
  response.model_name = std::string(r.model);
  response.model_version = std::string(r.version);
  response.id = id;
  for (const TensorSpec& spec : outputs) {
    auto tensor = AnswerTensor(*r.answer, spec.name, spec.datatype);
    if (!tensor.ok()) {
      return Error(500, "the model's answer does not fit output " + Quote(spec.name) + ": " + tensor.status().message());
    }
    response.outputs.push_back(std::move(tensor).value());
  }
  HttpReply out;
  WriteInferResponse(response, out.body);
  return out;
}

}  // namespace

V2Api::V2Api(Options options, Engine* engine, HouseLoader* loader, boost::asio::any_io_executor io)
    : options_(std::move(options)), engine_(engine), loader_(loader), io_(std::move(io)) {}

bool V2Api::Owns(std::string_view path) {
  return path == "/v2" || path == "/v2/" || path.starts_with(kModels) || path.starts_with(kRepository);
}

void V2Api::Handle(const Caller& caller, std::string_view method, std::string_view path, std::string_view body,
                   Reply reply) const {
  if (path == "/v2" || path == "/v2/") {
    if (method != "GET" && method != "HEAD") return reply(Error(405, "use GET for /v2"));
    return reply({200, R"({"name":"tbms","version":"0.1.0","extensions":["model_repository","tbms_try"]})"});
  }
  if (path.starts_with(kRepository)) {
    if (!caller.admin) return reply(Error(403, "the repository API needs an admin key ([admin] keys in instances.toml)"));
    return Repository(method, path.substr(kRepository.size()), std::move(reply));
  }
  Model(caller, method, path.substr(kModels.size()), body, std::move(reply));
}

void V2Api::Model(const Caller& caller, std::string_view method, std::string_view rest, std::string_view body,
                  Reply reply) const {
  const std::vector<std::string_view> parts = Split(rest);
  std::string_view version, action;
  if (parts.size() == 2) {
    action = parts[1];
  } else if ((parts.size() == 3 || parts.size() == 4) && parts[1] == "versions" && !parts[2].empty()) {
    version = parts[2];
    if (parts.size() == 4) action = parts[3];
  } else if (parts.size() != 1) {
    return reply(Error(404, "no such endpoint: /v2/models/" + std::string(rest)));
  }
  if (!action.empty() && action != "ready" && action != "infer") {
    return reply(Error(404, "no such endpoint: /v2/models/" + std::string(rest)));
  }
  const std::shared_ptr<const ModelTable> table = engine_->table();
  if (!caller.admin) {
    const auto instance = table->FindInstance(caller.instance);
    if (Status s = CheckAllowed(instance.ok() ? *instance : nullptr, parts[0]); !s.ok()) return reply(ErrorOf(s));
  }
  const ServedModel* model = table->Find(parts[0]);
  const bool get = method == "GET" || method == "HEAD";
  if (action == "infer" ? method != "POST" : !get) {
    return reply(Error(405, action == "infer" ? "use POST for infer" : "use GET for model metadata"));
  }
  if (model == nullptr) {
    for (const ModelState& s : engine_->states()) {
      if (s.name == parts[0]) return reply(Error(action == "ready" ? 400 : 503, "model " + Quote(parts[0]) + " is not ready: " + s.reason));
    }
    return reply(Error(404, "unknown model " + Quote(parts[0])));
  }
  if (!version.empty() && !model->Route(version).ok()) {
    return reply(Error(action == "ready" ? 400 : 404,
                       "model " + Quote(parts[0]) + " has no version " + Quote(version) + " loaded"));
  }
  if (action == "ready") return reply({200, {}});
  if (action.empty()) return reply({200, Metadata(*model, version)});
  Infer(caller, *model, version, body, std::move(reply));
}

void V2Api::Infer(const Caller& caller, const ServedModel& model, std::string_view version, std::string_view body,
                  Reply reply) const {
  auto parsed = ParseInferRequest(body, options_.tensors);
  if (!parsed.ok()) return reply(ErrorOf(parsed.status()));
  InferRequest& infer = *parsed;
  if (Status s = CheckInputs(*model.config, infer.inputs); !s.ok()) return reply(ErrorOf(s));
  std::vector<TensorSpec> outputs;
  for (const std::string& name : infer.outputs) {
    const TensorSpec* spec = nullptr;
    for (const TensorSpec& s : model.config->outputs) spec = s.name == name ? &s : spec;
    if (spec == nullptr) return reply(Error(400, "model " + Quote(model.config->name) + " has no output " + Quote(name)));
    outputs.push_back(*spec);
  }
  if (outputs.empty() && !model.config->outputs.empty()) outputs.push_back(model.config->outputs[0]);

  auto inputs = std::make_shared<Inputs>();
  inputs->tensors = std::move(infer.inputs);
  for (const Tensor& t : inputs->tensors) {
    if (t.datatype == DataType::kBytes && t.ElementCount() == 1 && inputs->question.empty()) {
      inputs->question.assign(t.Strings()[0]);  // text backends read the question
    }
  }
  const std::shared_ptr<const ModelTable> table = engine_->table();
  TryRequest request;
  request.inputs = std::move(inputs);
  request.tloc = infer.tloc_ms > 0 ? Millis(infer.tloc_ms) : options_.default_tloc;
  request.priority = infer.priority;
  if (Status s = table->AddCandidate(model.config->name, version, std::nullopt, &request); !s.ok()) {
    return reply(ErrorOf(s));
  }
  request.owner = table;
  // Under the core lock: hand off at once; the response is built on an io thread.
  auto done = [this, reply, outputs = std::move(outputs), id = std::move(infer.id)](TryResult r) {
    boost::asio::post(io_, [reply, outputs, id, r = std::move(r)] { reply(InferReply(r, outputs, id)); });
  };
  const std::string_view counted_as = caller.admin ? std::string_view(kInstance) : caller.instance;
  if (Status s = engine_->Submit(counted_as, model.config->name, std::move(request), std::move(done)); !s.ok()) {
    reply(ErrorOf(s));
  }
}

void V2Api::Repository(std::string_view method, std::string_view rest, Reply reply) const {
  if (rest == "index") {
    if (method != "POST" && method != "GET") return reply(Error(405, "use POST for the repository index"));
    std::string out;
    JsonWriter w(out);
    w.BeginArray();
    for (const ModelState& s : engine_->states()) {
      w.BeginObject().Key("name").String(s.name);
      if (!s.version.empty()) w.Key("version").String(s.version);
      w.Key("state").String(s.state);
      if (!s.reason.empty()) w.Key("reason").String(s.reason);
      w.EndObject();
    }
    w.EndArray();
    return reply({200, std::move(out)});
  }
  const std::vector<std::string_view> parts = Split(rest);
  if (parts.size() != 3 || parts[0] != "models" || parts[1].empty() ||
      (parts[2] != "load" && parts[2] != "unload")) {
    return reply(Error(404, "no such endpoint: /v2/repository/" + std::string(rest)));
  }
  if (method != "POST") return reply(Error(405, "use POST to load or unload a model"));
  if (loader_ == nullptr) return reply(Error(400, "this server has no model house (start it with --house DIR)"));
  auto done = [reply](Status s) { reply(s.ok() ? HttpReply{200, {}} : ErrorOf(s)); };
  if (parts[2] == "load") {
    loader_->Load(std::string(parts[1]), std::move(done));
  } else {
    loader_->Unload(std::string(parts[1]), std::move(done));
  }
}

}  // namespace tbms
