package main

import (
	_ "github.com/spf13/cobra"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite"
	_ "github.com/pressly/goose/v3"
	_ "github.com/golang-jwt/jwt/v5"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/net/dns/dnsmessage"
	_ "go.yaml.in/yaml/v3"
	_ "github.com/google/uuid"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/google/go-cmp/cmp"
	_ "go.uber.org/goleak"
)
