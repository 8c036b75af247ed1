package bus

import (
	"fmt"
	"strings"
)

// This file is the only place that spells out subjects. Fixed subjects are
// constants; subjects with a variable part are built by functions that
// validate or encode that part and return an error instead of a subject
// NATS would misread.
//
// Variable parts that come from outside decnet (decky names, host ids,
// token ids, addresses) go through EncodeToken, so any string is accepted
// and can be read back with DecodeToken. Parts that are decnet's own
// identifiers (service names, worker names, kinds) are only validated.

// Subject roots. Each root is the first token of its family.
const (
	RootLog          = "log"
	RootAttacker     = "attacker"
	RootCredential   = "credential"
	RootDecky        = "decky"
	RootSystem       = "system"
	RootCanary       = "canary"
	RootIdentity     = "identity"
	RootCampaign     = "campaign"
	RootOrchestrator = "orchestrator"
)

// Attacker subjects, published by the ingester and the profilers.
const (
	AttackerObserved           = "attacker.observed"
	AttackerScored             = "attacker.scored"
	AttackerFingerprinted      = "attacker.fingerprinted"
	AttackerFingerprintRotated = "attacker.fingerprint_rotated"
	AttackerSessionStarted     = "attacker.session.started"
	AttackerSessionEnded       = "attacker.session.ended"
	AttackerIntelEnriched      = "attacker.intel.enriched"
)

// Credential subjects.
const (
	CredentialCaptured      = "credential.captured"
	CredentialReuseDetected = "credential.reuse.detected"
)

// Identity subjects, published by the identity clusterer.
const (
	IdentityFormed            = "identity.formed"
	IdentityMerged            = "identity.merged"
	IdentityUnmerged          = "identity.unmerged"
	IdentityObservationLinked = "identity.observation.linked"
	IdentityCampaignAssigned  = "identity.campaign.assigned"
)

// Campaign subjects, published by the campaign clusterer.
const (
	CampaignFormed           = "campaign.formed"
	CampaignMerged           = "campaign.merged"
	CampaignUnmerged         = "campaign.unmerged"
	CampaignIdentityAssigned = "campaign.identity.assigned"
)

// System subjects that have no variable part.
const (
	SystemLog                         = "system.log"
	SystemWebhookSubscriptionsChanged = "system.webhook.subscriptions_changed"
)

// Subscription filters (they contain wildcards, so never publish on them).
const (
	FilterAllLogs       = "log.>"
	FilterAllHealth     = "system.*.health"
	FilterAllAttacker   = "attacker.>"
	FilterAllCredential = "credential.>"
	FilterAllIdentity   = "identity.>"
	FilterAllCampaign   = "campaign.>"
	FilterAllCanary     = "canary.>"
	FilterAllDecky      = "decky.>"
)

// Decky subject leaves (decky.<id>.<leaf>).
const (
	DeckyLeafState                = "state"
	DeckyLeafTraffic              = "traffic"
	DeckyLeafMutateRequest        = "mutate_request"
	DeckyLeafMutation             = "mutation"
	DeckyLeafServiceAdded         = "service_added"
	DeckyLeafServiceRemoved       = "service_removed"
	DeckyLeafServiceConfigChanged = "service_config_changed"
	DeckyLeafLifecycle            = "lifecycle"
)

// Orchestrator action kinds (orchestrator.<kind>.<decky_uuid>).
const (
	OrchestratorTraffic = "traffic"
	OrchestratorFile    = "file"
	OrchestratorEmail   = "email"
)

// join validates every token and joins them with '.'.
func join(tokens ...string) (string, error) {
	for _, tok := range tokens {
		if err := ValidateToken(tok); err != nil {
			return "", err
		}
	}
	return strings.Join(tokens, "."), nil
}

// Log returns log.<decky>.<service>, the subject of one service event. The
// decky name is encoded with EncodeToken; the service name must already be
// a valid token.
func Log(decky, service string) (string, error) {
	s, err := join(RootLog, EncodeToken(decky), service)
	if err != nil {
		return "", fmt.Errorf("log subject for decky %q service %q: %w", decky, service, err)
	}
	return s, nil
}

// LogFilter returns log.<decky>.>, which matches every service event of one
// decky.
func LogFilter(decky string) (string, error) {
	tok := EncodeToken(decky)
	if err := ValidateToken(tok); err != nil {
		return "", fmt.Errorf("log filter for decky %q: %w", decky, err)
	}
	return RootLog + "." + tok + ".>", nil
}

// ParseLog splits a subject built by Log back into the decky name and the
// service.
func ParseLog(subject string) (decky, service string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != RootLog {
		return "", "", fmt.Errorf("bus: %q is not a log.<decky>.<service> subject", subject)
	}
	decky, err = DecodeToken(parts[1])
	if err != nil {
		return "", "", fmt.Errorf("log subject %q: %w", subject, err)
	}
	if err := ValidateToken(parts[2]); err != nil {
		return "", "", fmt.Errorf("log subject %q: %w", subject, err)
	}
	return decky, parts[2], nil
}

// DeckyID returns the token that names a fleet decky: "<host>:<name>", each
// part encoded. A ':' inside the name stays as it is, and the host part never
// contains one after encoding, so the first ':' splits the two.
func DeckyID(host, name string) (string, error) {
	if host == "" || name == "" {
		return "", fmt.Errorf("decky id: host %q and name %q must both be non-empty", host, name)
	}
	hostTok := strings.ReplaceAll(EncodeToken(host), ":", "~3A")
	tok := hostTok + ":" + EncodeToken(name)
	if err := ValidateToken(tok); err != nil {
		return "", fmt.Errorf("decky id for host %q name %q: %w", host, name, err)
	}
	return tok, nil
}

// ParseDeckyID reverses DeckyID.
func ParseDeckyID(tok string) (host, name string, err error) {
	hostTok, nameTok, ok := strings.Cut(tok, ":")
	if !ok {
		return "", "", fmt.Errorf("bus: decky id %q has no ':'", tok)
	}
	host, err = DecodeToken(strings.ReplaceAll(hostTok, "~3A", ":"))
	if err != nil {
		return "", "", fmt.Errorf("decky id %q: host: %w", tok, err)
	}
	name, err = DecodeToken(nameTok)
	if err != nil {
		return "", "", fmt.Errorf("decky id %q: name: %w", tok, err)
	}
	return host, name, nil
}

// Decky returns decky.<host>:<name>.<leaf>; leaf is one of the DeckyLeaf
// constants.
func Decky(host, name, leaf string) (string, error) {
	id, err := DeckyID(host, name)
	if err != nil {
		return "", err
	}
	s, err := join(RootDecky, id, leaf)
	if err != nil {
		return "", fmt.Errorf("decky subject leaf %q: %w", leaf, err)
	}
	return s, nil
}

// DeckyState returns decky.<host>:<name>.state.
func DeckyState(host, name string) (string, error) {
	return Decky(host, name, DeckyLeafState)
}

// SystemHealth returns system.<worker>.health, where heartbeats go.
func SystemHealth(worker string) (string, error) {
	s, err := join(RootSystem, worker, "health")
	if err != nil {
		return "", fmt.Errorf("health subject for worker %q: %w", worker, err)
	}
	return s, nil
}

// SystemControl returns system.<worker>.control, where stop and restart
// requests go.
func SystemControl(worker string) (string, error) {
	s, err := join(RootSystem, worker, "control")
	if err != nil {
		return "", fmt.Errorf("control subject for worker %q: %w", worker, err)
	}
	return s, nil
}

// ParseSystem splits system.<worker>.<leaf> into the worker name and the
// leaf ("health", "control").
func ParseSystem(subject string) (worker, leaf string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != RootSystem {
		return "", "", fmt.Errorf("bus: %q is not a system.<worker>.<leaf> subject", subject)
	}
	return parts[1], parts[2], nil
}

func canary(tokenID, leaf string) (string, error) {
	s, err := join(RootCanary, EncodeToken(tokenID), leaf)
	if err != nil {
		return "", fmt.Errorf("canary subject for token %q: %w", tokenID, err)
	}
	return s, nil
}

// CanaryPlaced returns canary.<token_id>.placed.
func CanaryPlaced(tokenID string) (string, error) { return canary(tokenID, "placed") }

// CanaryTriggered returns canary.<token_id>.triggered.
func CanaryTriggered(tokenID string) (string, error) { return canary(tokenID, "triggered") }

// CanaryRevoked returns canary.<token_id>.revoked.
func CanaryRevoked(tokenID string) (string, error) { return canary(tokenID, "revoked") }

// Orchestrator returns orchestrator.<kind>.<decky_uuid>; kind is one of the
// Orchestrator* constants, and the decky uuid is encoded.
func Orchestrator(kind, deckyUUID string) (string, error) {
	s, err := join(RootOrchestrator, kind, EncodeToken(deckyUUID))
	if err != nil {
		return "", fmt.Errorf("orchestrator subject kind %q decky %q: %w", kind, deckyUUID, err)
	}
	return s, nil
}

// AttackerObservation returns attacker.observation.<primitive>. The
// primitive may itself be dotted ("http.user_agent"); every dotted part must
// be a valid token.
func AttackerObservation(primitive string) (string, error) {
	s, err := join(append([]string{RootAttacker, "observation"}, strings.Split(primitive, ".")...)...)
	if err != nil {
		return "", fmt.Errorf("observation subject for primitive %q: %w", primitive, err)
	}
	return s, nil
}
