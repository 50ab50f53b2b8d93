#include "tbms/server/v2_api.h"

#include "tbms/broker/limits.h"
#include "tbms/server/try_fields.h"

#include <boost/asio/post.hpp>

#include "tbms/common/json_fields.h"
#include "tbms/common/names.h"
#include "tbms/server/answer_handoff.h"

namespace tbms {
namespace {

const std::string kInstance(kInfersInstance);  // how infers are counted in the report channel

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
StatusOr<InferResponse> InferReply(const TryResult& r, const std::vector<TensorSpec>& outputs, const std::string& id,
                                   Duration expected_now) {
  if (!r.answer) {
    std::string why = "no answer from model " + Quote(r.attempts.empty() ? "" : r.attempts[0].model) +
                      " within the deadline: " + std::string(ReasonName(r.reason));
    return r.reason == Reason::kError ? Internal(std::move(why)) : Unavailable(std::move(why));
  }
  InferResponse response;
  response.model_name = std::string(r.model);
  response.model_version = std::string(r.version);
  response.id = id;
  response.expected_now = expected_now;
  for (const TensorSpec& spec : outputs) {
    auto tensor = AnswerTensor(*r.answer, spec.name, spec.datatype);
    if (!tensor.ok()) {
      return Internal("the model's answer does not fit output " + Quote(spec.name) + ": " + tensor.status().message());
    }
    response.outputs.push_back(std::move(tensor).value());
  }
  return response;
}

}  // namespace

V2Api::V2Api(Options options, Engine* engine, HouseLoader* loader, boost::asio::any_io_executor io)
    : options_(std::move(options)), engine_(engine), loader_(loader), io_(std::move(io)) {}

ServerMetadata V2Api::Server() { return {"tbms", "0.1.0", {"model_repository", "tbms_try"}}; }

Status V2Api::CheckAccess(const Caller& caller, const ModelTable& table, std::string_view model) {
  if (caller.admin) return OkStatus();
  const auto instance = table.FindInstance(caller.instance);
  return CheckAllowed(instance.ok() ? *instance : nullptr, model);
}

StatusOr<ModelRef> V2Api::Find(const Caller& caller, const ModelTable& table, std::string_view name,
                               std::string_view version) const {
  TBMS_RETURN_IF_ERROR(CheckAccess(caller, table, name));
  const ServedModel* model = table.Find(name);
  if (model == nullptr) {
    for (const ModelState& s : engine_->states()) {
      if (s.name == name) return Unavailable("model " + Quote(name) + " is not ready: " + s.reason);
    }
    return NotFound("unknown model " + Quote(name));
  }
  if (!version.empty() && !model->Route(version).ok()) {
    return NotFound("model " + Quote(name) + " has no version " + Quote(version) + " loaded");
  }
  return ModelRef{model, std::string(version)};
}

ModelMetadata V2Api::Metadata(const ModelRef& ref) {
  const ModelConfig& config = *ref.model->config;
  ModelMetadata m{config.name, {}, "tbms_" + config.backend, config.inputs, config.outputs, config.labels};
  for (const auto& v : ref.model->versions) {
    if (ref.version.empty() || v->version == ref.version) m.versions.push_back(v->version);
  }
  return m;
}

StatusOr<ModelReadiness> V2Api::Ready(const Caller& caller, const ModelTable& table, std::string_view model,
                                      std::string_view version) const {
  StatusOr<ModelRef> ref = Find(caller, table, model, version);
  if (ref.ok()) return ModelReadiness{true, {}};
  const bool missing_version = ref.status().code() == StatusCode::kNotFound && table.Find(model) != nullptr;
  if (ref.status().code() == StatusCode::kUnavailable || missing_version) {
    return ModelReadiness{false, ref.status().message()};
  }
  return ref.status();
}

void V2Api::Infer(const Caller& caller, std::shared_ptr<const ModelTable> table, const ModelRef& ref,
                  InferRequest infer, InferDone done) const {
  const ServedModel& model = *ref.model;
  if (Status s = CheckInputs(*model.config, infer.inputs); !s.ok()) return done(s);
  std::vector<TensorSpec> outputs;
  for (const std::string& name : infer.outputs) {
    const TensorSpec* spec = nullptr;
    for (const TensorSpec& s : model.config->outputs) spec = s.name == name ? &s : spec;
    if (spec == nullptr) return done(InvalidArgument("model " + Quote(model.config->name) + " has no output " + Quote(name)));
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
  if (Status text = CheckText(inputs->question, "the question (the first one-element BYTES input)"); !text.ok()) {
    return done(text);
  }
  TryRequest request;
  request.inputs = std::move(inputs);
  request.tloc = infer.tloc.value_or(options_.default_tloc);
  request.priority = infer.priority;
  if (Status s = table->AddCandidate(model.config->name, ref.version, std::nullopt, &request); !s.ok()) {
    return done(s);
  }
  request.owner = std::move(table);
  // What the response is built from, shared by the Done and this call (see AnswerHandoff).
  struct InFlight {
    InFlight(InferDone d, std::vector<TensorSpec> o, std::string i)
        : done(std::move(d)), outputs(std::move(o)), id(std::move(i)) {}
    InferDone done;
    std::vector<TensorSpec> outputs;
    std::string id;
    Duration expected_now{};
    AnswerHandoff answer;
    void Reply() { done(InferReply(answer.answer(), outputs, id, expected_now)); }
  };
  auto in_flight = std::make_shared<InFlight>(std::move(done), std::move(outputs), std::move(infer.id));
  // On the core: note what a new request would take now (brokers sharing
  // this server read it); the response is never built in the core's context.
  const Member member = request.members.back();  // the table the try holds keeps its queue alive
  auto finished = [this, in_flight, member, priority = infer.priority](TryResult r) {
    in_flight->expected_now = std::min(member.queue->Predict(priority, member.est).expected, limits::kMaxTloc);
    if (in_flight->answer.Give(std::move(r))) boost::asio::post(io_, [in_flight] { in_flight->Reply(); });
  };
  const std::string_view counted_as = caller.admin ? std::string_view(kInstance) : caller.instance;
  if (Status s = engine_->Submit(counted_as, model.config->name, std::move(request), std::move(finished)); !s.ok()) {
    return in_flight->done(s);
  }
  if (in_flight->answer.Submitted()) in_flight->Reply();
}

Status V2Api::CheckAdmin(const Caller& caller) {
  if (caller.admin) return OkStatus();
  return PermissionDenied("the repository API needs an admin key ([admin] keys in instances.toml)");
}

StatusOr<std::vector<ModelState>> V2Api::Index(const Caller& caller) const {
  TBMS_RETURN_IF_ERROR(CheckAdmin(caller));
  return engine_->states();
}

void V2Api::Load(const Caller& caller, std::string model, Done done) const {
  if (Status s = CheckAdmin(caller); !s.ok()) return done(s);
  if (loader_ == nullptr) return done(FailedPrecondition("this server has no model house (start it with --house DIR)"));
  loader_->Load(std::move(model), std::move(done));
}

void V2Api::Unload(const Caller& caller, std::string model, Done done) const {
  if (Status s = CheckAdmin(caller); !s.ok()) return done(s);
  if (loader_ == nullptr) return done(FailedPrecondition("this server has no model house (start it with --house DIR)"));
  loader_->Unload(std::move(model), std::move(done));
}

void V2Api::Change(const Caller& caller, std::function<Status()> change, Done done) const {
  if (Status s = CheckAdmin(caller); !s.ok()) return done(s);
  if (loader_ == nullptr) return done(change());  // no loads to wait behind
  loader_->Admin(std::move(change), std::move(done));
}

void V2Api::SetDeviceUp(const Caller& caller, std::string device, bool up, Done done) const {
  Change(caller, [engine = engine_, device = std::move(device), up] { return engine->models().SetDeviceUp(device, up); },
         std::move(done));
}

void V2Api::SetReplicas(const Caller& caller, std::string model, int count, Done done) const {
  Change(caller, [engine = engine_, model = std::move(model), count] { return engine->models().SetReplicas(model, count); },
         std::move(done));
}

}  // namespace tbms
