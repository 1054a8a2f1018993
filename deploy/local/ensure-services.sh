#!/usr/bin/env bash
# Start the local RabbitMQ / PostgreSQL when installed but down; explain when missing.
# `chromium`: Debian's Chromium and npm for the browser tests, installed with apt when missing.
# `sshd`: Debian's OpenSSH server for the SFTP backup target tests, installed with apt when missing.
# `promtool`: Debian's prometheus package (it brings promtool) for the alert-rule checks, likewise.
set -u
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done; return 1; }

ensure_rabbitmq() {
  if ! port_open 5672; then
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
      echo "RabbitMQ is not installed: install it (apt-get install rabbitmq-server) or set EJOURNAL_AMQP_URI." >&2
      exit 1
    fi
    echo "starting RabbitMQ..."
    rabbitmq-server -detached || true
    wait_port 5672 || { echo "RabbitMQ did not start on 127.0.0.1:5672" >&2; exit 1; }
  fi
  # the management API is used by the nameko test fixtures (per-test vhosts)
  if ! port_open 15672 && command -v rabbitmq-plugins >/dev/null 2>&1; then
    rabbitmq-plugins enable rabbitmq_management >/dev/null 2>&1 || true
    wait_port 15672 || echo "warning: RabbitMQ management API not reachable on 15672" >&2
  fi
}

ensure_postgresql() {
  if ! port_open 5432; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      echo "PostgreSQL is not installed: install it (apt-get install postgresql) or set EJOURNAL_TEST_PG_URL." >&2
      exit 1
    fi
    echo "starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_port 5432 || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
  fi
}

ensure_chromium() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} (the browser tests need them)..."
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! { $sudo apt-get install -y -q "${missing[@]}" >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; }; }; then
    echo "could not install ${missing[*]}: install them with apt-get" >&2
    exit 1
  fi
}

apt_install() {  # apt_install PACKAGE...: install with apt (update the lists once if needed)
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! { $sudo apt-get install -y -q "$@" >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "$@" >/dev/null; }; }; then
    echo "could not install $*: install them with apt-get" >&2
    exit 1
  fi
}

ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  echo "installing prometheus (the alert-rule tests need its promtool)..."
  # the package's own server is not wanted running: policy-rc.d keeps it from starting
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
  fi
  DEBIAN_FRONTEND=noninteractive apt_install prometheus
  [ -n "$created" ] && rm -f "$policy"
  command -v promtool >/dev/null 2>&1 || { echo "promtool missing after installing prometheus" >&2; exit 1; }
}

# `sshd`: Debian's OpenSSH server for the backup service's SFTP target tests
# (they start their own sshd on a loopback port; nothing runs as a system service).
ensure_sshd() {
  [ -x /usr/sbin/sshd ] && return 0
  echo "installing openssh-server (the SFTP backup target tests start an sshd of their own)..."
  apt_install --no-install-recommends openssh-server
}

for svc in "$@"; do
  case "$svc" in
    rabbitmq) ensure_rabbitmq ;;
    postgresql) ensure_postgresql ;;
    chromium) ensure_chromium ;;
    promtool) ensure_promtool ;;
    sshd) ensure_sshd ;;
    *) echo "unknown service $svc" >&2; exit 2 ;;
  esac
done
