"""Apache Kafka: the production-parity broker, one KRaft node (broker + controller).

The broker's jars come from Maven Central: `kafka-pom.xml` beside this file names
`org.apache.kafka:kafka_2.13` (which pulls the whole broker) plus a log4j2 backend, and
`fetch_jars` copies them with maven-dependency-plugin into the cache, once per version
(`make production-deps`, ~45 jars, ~45 MB). Everything listens on 127.0.0.1 (a listener without
a host would advertise the machine's name). Data lives in `home/kafka/data`: topics, messages
and committed offsets survive a restart, on the same ports. The storage is formatted once with
a cluster id kept in `home/kafka/cluster.id`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from infra.stack.cache import cache_dir
from infra.stack.errors import ServiceMissing, StackError
from infra.stack.service import Launch, Ports, ServiceSpec
from infra.stack.supervisor import HOST
from infra.stack.topics import broker_ready

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).resolve().parent / "kafka-pom.xml"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
HEAP = "512m"  # measured: a one-node broker with test traffic stays well under it

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def libs_dir() -> Path:
    return cache_dir() / "kafka" / KAFKA_VERSION / "libs"


def fetch_jars() -> Path:
    """Copy the broker's jars from Maven Central into the cache (no-op when already there)."""
    target = libs_dir()
    if (target / ".complete").is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceMissing("fetching the Kafka jars needs Maven (`mvn`) on PATH")
    partial = target.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(POM),
        f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}",
        f"-DoutputDirectory={partial}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(
            f"mvn could not fetch the Kafka {KAFKA_VERSION} jars:\n{done.stdout[-2000:]}"
        )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / ".complete").write_text(KAFKA_VERSION + "\n")
    return target


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ServiceMissing("Apache Kafka needs Java 17+ (`java` on PATH or JAVA_HOME)")
    return java


def _classpath() -> str:
    libs = libs_dir()
    if not (libs / ".complete").is_file():
        raise ServiceMissing(
            f"no Apache Kafka {KAFKA_VERSION} jars in {libs}: run `make production-deps`"
        )
    return str(libs / "*")


def _address(ports: Ports) -> str:
    return f"{HOST}:{ports['broker']}"


def _properties(home: Path, ports: Ports) -> str:
    data = home / "kafka" / "data"
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{ports['controller']}",
        "listeners": f"PLAINTEXT://{HOST}:{ports['broker']},CONTROLLER://{HOST}:{ports['controller']}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{ports['broker']}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",  # fewer: the first group join is faster
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",  # freshindex creates its topics with their settings
        "message.max.bytes": str(8 * 1024 * 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _format_storage(java: str, classpath: str, config: Path, home: Path) -> None:
    """Format the KRaft storage once (kept across restarts; `--ignore-formatted` is idempotent)."""
    if (home / "kafka" / "data" / "meta.properties").is_file():
        return
    id_file = home / "kafka" / "cluster.id"
    if not id_file.is_file():
        id_file.write_text(base64_uuid() + "\n")
    cmd = [
        java, "-cp", classpath, f"-Dlog4j2.configurationFile={config.parent / 'log4j2.properties'}",
        "kafka.tools.StorageTool", "format",
        "-t", id_file.read_text().strip(), "-c", str(config), "--ignore-formatted",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"Kafka storage format failed:\n{(done.stdout + done.stderr)[-2000:]}")


def base64_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _launch(home: Path, ports: Ports) -> Launch:
    java, classpath = _java(), _classpath()
    folder = home / "kafka"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "server.properties"
    config.write_text(_properties(home, ports))  # rewritten each start: same ports, same data
    (folder / "log4j2.properties").write_text(_LOG4J2)
    _format_storage(java, classpath, config, home)
    cmd = [
        java, f"-Xms{HEAP}", f"-Xmx{HEAP}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
        f"-Dlog4j2.configurationFile={folder / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={home / 'logs'}",
        "-cp", classpath, "kafka.Kafka", str(config),
    ]  # fmt: skip
    return Launch(cmd=cmd, env=dict(os.environ), cwd=folder)


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="kafka",
        title=f"Apache Kafka {KAFKA_VERSION} broker",
        port_names=("broker", "controller"),
        launch=_launch,
        ready=lambda ports: broker_ready(_address(ports)),
        address=_address,
        settings_env=lambda home, ports: {
            "FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS": _address(ports),
            "FRESHINDEX_KAFKA_FLAVOR": "kafka",
        },
        stop_timeout_s=20.0,
    )
