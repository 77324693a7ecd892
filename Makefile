# Convenience targets; scripts/ hold the real commands.
.PHONY: test build dev bench
test:
	./scripts/test
build:
	go build -o bin/postern ./cmd/postern
	go build -o bin/postern-agent ./cmd/postern-agent
dev:
	go run ./cmd/postern dev
