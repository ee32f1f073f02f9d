"""The AWS stack (deploy/aws), synthesized offline once for the module by the command people run
(`python app.py` with CDK_OUTDIR set), and asserted on its CloudFormation template; and the refusals of the
Lambda entry point (insideout.web.lambda_api). Serving through the Lambda against DynamoDB is tested with the
DynamoDB backend's tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from insideout.db.dynamo_tables import DEFAULT_PREFIX, TABLES, create_table_request
from insideout.pools import POOLS
from insideout.settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]
AWS = ROOT / "deploy" / "aws"
STACK = "InsideOut"
DURABLE = {
    "INSIDEOUT_METADATA": "dynamodb",
    "INSIDEOUT_STORAGE": "s3",
    "INSIDEOUT_S3_BUCKET_PLAY": "play-bucket",
    "INSIDEOUT_S3_BUCKET_UNVERIFIED": "unverified-bucket",
    "INSIDEOUT_S3_BUCKET_LEARNING": "learning-bucket",
}


@pytest.fixture(scope="module")
def outdir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cdk.out")
    done = subprocess.run([sys.executable, "app.py"], cwd=AWS, env={**os.environ, "CDK_OUTDIR": str(out)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def cfn(outdir) -> dict:
    return json.loads((outdir / f"{STACK}.template.json").read_text())


@pytest.fixture(scope="module")
def template(cfn):
    from aws_cdk.assertions import Template

    return Template.from_json(cfn)


def of_type(cfn: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == kind}


def the_one(cfn: dict, kind: str, where=lambda r: True) -> tuple[str, dict]:
    found = [(name, r) for name, r in of_type(cfn, kind).items() if where(r)]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def api_function(cfn: dict) -> tuple[str, dict]:
    return the_one(cfn, "AWS::Lambda::Function", lambda r: r["Properties"].get("PackageType") == "Image")


def app_container(cfn: dict) -> dict:
    _, task = the_one(cfn, "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    return container


def resolve(value, cfn: dict):
    """A Fn::Join of strings and table Refs, as CloudFormation would make it (enough for the schema stamp)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(resolve(p, cfn) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return cfn["Resources"][value["Ref"]]["Properties"]["TableName"]
    return value


# -- the synth -------------------------------------------------------------------------------------


def test_python_app_py_writes_the_template_into_cdk_outdir(outdir):
    assert (outdir / "manifest.json").is_file()
    assert "Resources" in json.loads((outdir / f"{STACK}.template.json").read_text())


def test_the_synth_needs_no_lookups(outdir):
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert not manifest.get("missing"), manifest.get("missing")  # context a lookup would have to fetch
    assert not (AWS / "cdk.context.json").exists()


def test_the_image_assets_carry_only_what_the_images_need(outdir):
    images = {d.name: d for d in outdir.glob("asset.*") if list(d.glob("deploy/aws/Dockerfile.*"))}
    assert len(images) == 2
    for folder in images.values():
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        # the shipped models (acoustic model, lite vocoder, mel refiner) are most of it; no data, caches or venvs
        assert sum((folder / f).stat().st_size for f in files) < 22_000_000
        for f in files:
            assert not f.startswith(("tests/", ".git", "deploy/aws/cdk.out", ".venv", "venv/", "examples/")), f
            assert "__pycache__" not in f and not f.endswith(".pyc"), f
            assert not f.startswith("data/") or f.startswith("data/sentences"), f
        assert "insideout/web/api.py" in files and "requirements.txt" in files
    lambda_image = next(d for d in images.values() if (d / "deploy/aws/Dockerfile.lambda").exists())
    assert not (lambda_image / "models").exists()  # the API serves stored clips: no model in its image


# -- the buckets -----------------------------------------------------------------------------------


def test_pool_buckets_block_every_kind_of_public_access(template):
    template.resource_count_is("AWS::S3::Bucket", len(POOLS))
    template.all_resources_properties("AWS::S3::Bucket", {"PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}})


def test_pool_buckets_are_encrypted_at_rest(cfn):
    for bucket in of_type(cfn, "AWS::S3::Bucket").values():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_no_bucket_policy_allows_everyone_and_each_refuses_plain_http(cfn):
    policies = of_type(cfn, "AWS::S3::BucketPolicy")
    assert len(policies) == len(POOLS)
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        for s in statements:
            everyone = s.get("Principal") in ("*", {"AWS": "*"})
            assert not (s["Effect"] == "Allow" and everyone), s
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_pool_buckets_and_tables_are_kept_when_the_stack_is_deleted(cfn):
    for kind in ("AWS::S3::Bucket", "AWS::DynamoDB::Table"):
        for resource in of_type(cfn, kind).values():
            assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"


# -- the tables ------------------------------------------------------------------------------------


def test_there_is_one_table_per_key_design_entry_with_its_keys_and_indexes(cfn):
    tables = {r["Properties"]["TableName"]: r["Properties"] for r in of_type(cfn, "AWS::DynamoDB::Table").values()}
    assert sorted(tables) == sorted(t.full_name(DEFAULT_PREFIX) for t in TABLES)
    for spec in TABLES:
        wanted, got = create_table_request(spec, DEFAULT_PREFIX), tables[spec.full_name(DEFAULT_PREFIX)]
        assert sorted(got["AttributeDefinitions"], key=str) == sorted(wanted["AttributeDefinitions"], key=str)
        assert got["KeySchema"] == wanted["KeySchema"]
        assert got.get("GlobalSecondaryIndexes", []) == wanted.get("GlobalSecondaryIndexes", []), spec.name


def test_tables_are_on_demand_with_point_in_time_recovery(template):
    template.all_resources_properties("AWS::DynamoDB::Table", {
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    })


def test_tables_expire_items_by_the_ttl_attribute_where_the_key_design_names_one(cfn):
    tables = {r["Properties"]["TableName"]: r["Properties"] for r in of_type(cfn, "AWS::DynamoDB::Table").values()}
    for spec in TABLES:
        ttl = tables[spec.full_name(DEFAULT_PREFIX)].get("TimeToLiveSpecification")
        assert ttl == ({"AttributeName": spec.ttl, "Enabled": True} if spec.ttl else None), spec.name


def test_the_deployed_tables_pass_the_backends_start_check(cfn, monkeypatch):
    """Tables made as the template makes them, stamped as its custom resource stamps them, are what the
    backend's start-time check accepts (moto stands in for DynamoDB)."""
    from moto import mock_aws

    from insideout.db.dynamo_client import Dynamo

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    _, stamp = the_one(cfn, "Custom::AWS")
    call = json.loads(resolve(stamp["Properties"]["Create"], cfn))
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb")
        for table in of_type(cfn, "AWS::DynamoDB::Table").values():
            p = table["Properties"]
            client.create_table(**{k: p[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode",
                                                     "GlobalSecondaryIndexes") if k in p})
        assert (call["service"], call["action"]) == ("DynamoDB", "putItem")
        client.put_item(**call["parameters"])
        Dynamo(DEFAULT_PREFIX).check()


# -- the API ---------------------------------------------------------------------------------------


def test_the_api_function_reads_metadata_from_dynamodb_and_audio_from_s3(cfn):
    _, function = api_function(cfn)
    env = function["Properties"]["Environment"]["Variables"]
    assert env["INSIDEOUT_METADATA"] == "dynamodb" and env["INSIDEOUT_STORAGE"] == "s3"
    assert env["INSIDEOUT_DYNAMODB_TABLE_PREFIX"] == DEFAULT_PREFIX
    buckets = set(of_type(cfn, "AWS::S3::Bucket"))
    assert {env[f"INSIDEOUT_S3_BUCKET_{p.upper()}"]["Ref"] for p in POOLS} == buckets
    (secret,) = [n for n, r in of_type(cfn, "AWS::SecretsManager::Secret").items()
                 if "SECRET_KEY" in r["Properties"]["Description"]]
    from insideout.web.lambda_api import SECRET_ARN_VARIABLE

    assert env[SECRET_ARN_VARIABLE] == {"Ref": secret}
    assert "INSIDEOUT_SECRET_KEY" not in env  # the key itself never sits in the function's configuration


def test_the_api_function_may_touch_only_its_tables_their_indexes_and_its_buckets(cfn):
    name, function = api_function(cfn)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    tables, buckets = set(of_type(cfn, "AWS::DynamoDB::Table")), set(of_type(cfn, "AWS::S3::Bucket"))
    (policy,) = [p for p in of_type(cfn, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]]
    granted_tables = set()
    for s in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert s["Effect"] == "Allow"
        if resources == ["*"]:
            assert actions == ["dynamodb:ListTables"], s  # the only action that names no resource
            continue
        for resource in resources:
            text = json.dumps(resource)
            owners = {t for t in tables | buckets if f'"{t}"' in text}
            assert len(owners) == 1 or "secretsmanager" in " ".join(actions), s
            granted_tables |= owners & tables
            if owners & tables and "Fn::Join" in resource:
                assert resource["Fn::Join"][1][-1] == "/index/*"
    assert granted_tables == tables


def test_api_gateway_throttles_the_default_stage(cfn):
    _, stage = the_one(cfn, "AWS::ApiGatewayV2::Stage")
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert stage["Properties"]["StageName"] == "$default"
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0


def test_api_gateway_sends_the_api_prefix_and_the_widget_to_the_function(cfn):
    from insideout.web.api import PREFIX

    routes = {r["Properties"]["RouteKey"] for r in of_type(cfn, "AWS::ApiGatewayV2::Route").values()}
    assert f"ANY {PREFIX}/{{proxy+}}" in routes
    assert "GET /widget.js" in routes  # the widget finds the API at its own script's origin
    name, _ = api_function(cfn)
    (integration,) = of_type(cfn, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [name, "Arn"]}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


# -- the Gradio app --------------------------------------------------------------------------------


def test_the_app_service_uses_the_same_tables_buckets_and_secret_key_as_the_api(cfn):
    _, function = api_function(cfn)
    api_env = function["Properties"]["Environment"]["Variables"]
    container = app_container(cfn)
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    shared = ["INSIDEOUT_METADATA", "INSIDEOUT_STORAGE", "INSIDEOUT_DYNAMODB_TABLE_PREFIX",
              *(f"INSIDEOUT_S3_BUCKET_{p.upper()}" for p in POOLS)]
    assert {k: env[k] for k in shared} == {k: api_env[k] for k in shared}
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets["INSIDEOUT_SECRET_KEY"] == api_env["SECRET_KEY_ARN"]
    assert env["INSIDEOUT_HOST"] == "0.0.0.0" and "INSIDEOUT_TRUSTED_PROXIES" in env


def test_the_app_service_is_health_checked_on_the_api(cfn):
    _, group = the_one(cfn, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["Properties"]["HealthCheckPath"] == "/api/v1/health"


def test_the_app_tasks_admit_the_load_balancer_only(cfn):
    def open_to_all(group: dict) -> bool:
        return any(i.get("CidrIp") == "0.0.0.0/0" for i in group["Properties"].get("SecurityGroupIngress", []))

    (load_balancer_group,) = [n for n, r in of_type(cfn, "AWS::EC2::SecurityGroup").items() if open_to_all(r)]
    _, service = the_one(cfn, "AWS::ECS::Service")
    (task_group,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    task_group = task_group["Fn::GetAtt"][0]
    assert not cfn["Resources"][task_group]["Properties"].get("SecurityGroupIngress")
    ingress = [r["Properties"] for r in of_type(cfn, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"] == {"Fn::GetAtt": [task_group, "GroupId"]}]
    assert ingress and all(i["SourceSecurityGroupId"] == {"Fn::GetAtt": [load_balancer_group, "GroupId"]}
                           for i in ingress)


def test_outputs_name_the_api_url_the_buckets_and_the_table_prefix(cfn):
    outputs = cfn["Outputs"]
    assert {"ApiUrl", "TablePrefix", *(f"{p.capitalize()}Bucket" for p in POOLS)} <= set(outputs)
    assert outputs["TablePrefix"]["Value"] == DEFAULT_PREFIX


# -- the Lambda entry point ------------------------------------------------------------------------


def test_the_lambda_api_refuses_sqlite_metadata():
    from insideout.web.lambda_api import lambda_settings

    with pytest.raises(SettingsError, match="INSIDEOUT_METADATA=sqlite: .*INSIDEOUT_METADATA=dynamodb.*ephemeral"):
        lambda_settings({**DURABLE, "INSIDEOUT_METADATA": "sqlite", "INSIDEOUT_SECRET_KEY": "k" * 40})


def test_the_lambda_api_refuses_local_audio():
    from insideout.web.lambda_api import lambda_settings

    env = {k: v for k, v in DURABLE.items() if not k.startswith("INSIDEOUT_S3_")}
    with pytest.raises(SettingsError, match="INSIDEOUT_STORAGE=local: .*INSIDEOUT_STORAGE=s3.*ephemeral"):
        lambda_settings({**env, "INSIDEOUT_STORAGE": "local", "INSIDEOUT_SECRET_KEY": "k" * 40})


def test_the_lambda_api_refuses_to_generate_its_own_secret_key():
    from insideout.web.lambda_api import lambda_settings

    with pytest.raises(SettingsError, match="INSIDEOUT_SECRET_KEY, or SECRET_KEY_ARN"):
        lambda_settings(DURABLE)


def test_the_lambda_api_reads_its_secret_key_from_the_secret_the_stack_names():
    from insideout.web.lambda_api import lambda_settings

    asked = []
    settings = lambda_settings({**DURABLE, "SECRET_KEY_ARN": "arn:secret"},
                               fetch_secret=lambda arn: asked.append(arn) or "s" * 64)
    assert asked == ["arn:secret"] and settings.secret_key == "s" * 64
    assert str(settings.data_dir) == "/tmp/insideout"  # the one writable folder on Lambda
    with pytest.raises(SettingsError, match="INSIDEOUT_SECRET_KEY: too short"):
        lambda_settings({**DURABLE, "SECRET_KEY_ARN": "arn:secret"}, fetch_secret=lambda arn: "short")


def imported_by_the_lambda_module() -> dict:
    code = ("import json, sys; import insideout.web.lambda_api as m; "
            "print(json.dumps({'modules': sorted(sys.modules), 'built': m._handler is not None}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_lambda_entry_point_builds_nothing_and_imports_no_torch():
    found = imported_by_the_lambda_module()
    assert not found["built"]
    assert "torch" not in found["modules"] and "mangum" not in found["modules"]


def test_importing_the_lambda_entry_point_imports_no_gradio():
    assert "gradio" not in imported_by_the_lambda_module()["modules"]
