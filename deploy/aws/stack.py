"""The original 2024 stack as code: the pool buckets, the DynamoDB tables, the HTTP API on Lambda behind API
Gateway, and the Gradio app on Fargate, all pointed at the same buckets and tables.

The tables come from insideout.db.dynamo_tables.TABLES, the one home of the key design, so the deployed tables
are the ones the backend queries. Everything here synthesizes offline: no context lookups (no account, VPC or
hosted-zone lookups), and the container images are assets that `cdk deploy` builds, never `cdk synth`.
docs/deploy-aws.md says what each resource is for, why it is chosen and what it costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from insideout.db.dynamo_client import SCHEMA_VERSION
from insideout.db.dynamo_tables import DEFAULT_PREFIX, TABLES, Index, Key, Table
from insideout.pools import POOLS
from insideout.settings import table_prefix

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
APP_PORT = 7860
# insideout.web.lambda_api.SECRET_ARN_VARIABLE (the tests check they agree; importing it here would import the
# web layer into every synth): the Lambda reads INSIDEOUT_SECRET_KEY from the secret it names, at its first
# invocation, so the key never sits in the function's configuration.
SECRET_ARN_VARIABLE = "SECRET_KEY_ARN"

# What each image needs from the repository, and nothing else: the asset is staged into cdk.out at synth
# (and hashed), so an allow-list keeps synth quick and cdk.out small whatever lies around (data/, venvs, .git).
LAMBDA_IMAGE_FILES = ("requirements.txt", "insideout", "deploy/aws/Dockerfile.lambda")
APP_IMAGE_FILES = ("requirements.txt", "app.py", "insideout", "models", "data/sentences*.txt",
                   "deploy/aws/Dockerfile.app")


def image_excludes(keep: tuple[str, ...]) -> list[str]:
    """Docker-ignore patterns that leave only `keep` (and no bytecode) in an image asset."""
    return ["*", *(f"!{path}" for path in keep), "**/__pycache__", "**/*.pyc", "**/.DS_Store"]


@dataclass(frozen=True)
class Options:
    """What a deployment may choose (`cdk deploy -c name=value`); the defaults are the ones documented."""

    table_prefix: str = DEFAULT_PREFIX
    app_service: bool = True  # the Gradio app on Fargate; false when it runs elsewhere (a Space)
    api_rate_limit: int = 100  # requests per second, all clients together, at API Gateway's default stage
    api_burst_limit: int = 200
    certificate_arn: str = ""  # an ACM certificate: the app's load balancer answers HTTPS (and redirects HTTP)

    @classmethod
    def from_context(cls, get) -> Options:
        """Options from CDK context values (strings when given with -c); `get` is node.try_get_context."""
        defaults = cls()

        def text(name: str, default: str) -> str:
            value = get(name)
            return default if value is None else str(value).strip()

        return cls(
            # The rule the app applies to INSIDEOUT_DYNAMODB_TABLE_PREFIX: a bad prefix stops the synth, not the app.
            table_prefix=table_prefix("DYNAMODB_TABLE_PREFIX", text("table_prefix", defaults.table_prefix)),
            app_service=text("app_service", "true").lower() not in ("0", "false", "no", "off"),
            api_rate_limit=int(text("api_rate_limit", str(defaults.api_rate_limit))),
            api_burst_limit=int(text("api_burst_limit", str(defaults.api_burst_limit))),
            certificate_arn=text("certificate_arn", ""),
        )


def _attribute(key: Key) -> dynamodb.Attribute:
    kind = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}[key.type]
    return dynamodb.Attribute(name=key.name, type=kind)


def _index(table: dynamodb.Table, index: Index) -> None:
    projection = {"projection_type": dynamodb.ProjectionType.KEYS_ONLY}
    if index.projection is not None:
        projection = {"projection_type": dynamodb.ProjectionType.INCLUDE,
                      "non_key_attributes": list(index.projection)}
    table.add_global_secondary_index(
        index_name=index.name,
        partition_key=_attribute(index.pk),
        sort_key=_attribute(index.sk) if index.sk else None,
        **projection,
    )


class InsideOutStack(Stack):
    """Buckets, tables, the API on Lambda behind an HTTP API, and (optionally) the Gradio app on Fargate."""

    def __init__(self, scope: Construct, construct_id: str, options: Options | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.options = options or Options.from_context(self.node.try_get_context)
        self.buckets = {pool: self._bucket(pool) for pool in POOLS}
        self.tables = {t.name: self._table(t) for t in TABLES}
        self._stamp_schema_version()
        # Pass tokens and the built-in site's secret are keyed by it: one key for every replica, kept on delete.
        self.secret = secretsmanager.Secret(
            self, "SecretKey", description="InsideOut INSIDEOUT_SECRET_KEY (pass tokens, built-in site secret)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.api_function = self._api_function()
        self.http_api, self.stage = self._http_api(self.api_function)
        self.app_service = self._app_service() if self.options.app_service else None

        CfnOutput(self, "ApiUrl", value=self.stage.url, description="base URL of /api/v1 and /widget.js")
        for pool, bucket in self.buckets.items():
            CfnOutput(self, f"{pool.capitalize()}Bucket", value=bucket.bucket_name,
                      description=f"INSIDEOUT_S3_BUCKET_{pool.upper()}")
        CfnOutput(self, "TablePrefix", value=self.options.table_prefix, description="INSIDEOUT_DYNAMODB_TABLE_PREFIX")
        CfnOutput(self, "SecretKeyArn", value=self.secret.secret_arn, description="the INSIDEOUT_SECRET_KEY secret")

    # -- data ------------------------------------------------------------------------------------

    def _bucket(self, pool: str) -> s3.Bucket:
        return s3.Bucket(
            self, f"{pool.capitalize()}Pool",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,  # the only bucket policy: Deny for requests without TLS
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,  # no ACLs
            # Off: clips move between pools by copy and delete, and a versioned bucket keeps every deleted
            # copy (and bills it) until a lifecycle rule expires it.
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(7))],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _table(self, spec: Table) -> dynamodb.Table:
        table = dynamodb.Table(
            self, f"{spec.name.capitalize()}Table",
            table_name=spec.full_name(self.options.table_prefix),
            partition_key=_attribute(spec.pk),
            sort_key=_attribute(spec.sk) if spec.sk else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=spec.ttl,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            _index(table, index)
        return table

    def _stamp_schema_version(self) -> None:
        """The backend's start check wants the key design's version in the admin table (what
        `insideout dynamodb create-tables` writes). Written once, only where none is: a later version is a
        migration's to write, never the deploy's."""
        admin = self.tables["admin"]
        put = cr.AwsSdkCall(
            service="DynamoDB", action="putItem",
            parameters={
                "TableName": admin.table_name,
                "Item": {"pk": {"S": "schema"}, "sk": {"N": "0"}, "version": {"N": str(SCHEMA_VERSION)}},
                "ConditionExpression": "attribute_not_exists(pk)",
            },
            physical_resource_id=cr.PhysicalResourceId.of("insideout-schema-version"),
            ignore_error_codes_matching="ConditionalCheckFailedException",
        )
        cr.AwsCustomResource(
            self, "SchemaVersion", on_create=put, on_update=put, install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[admin.table_arn])]),
        )

    def _grant_data(self, grantee: iam.IGrantable) -> None:
        """Least privilege for the app: read and write the tables (their indexes too) and the buckets."""
        for table in self.tables.values():
            table.grant_read_write_data(grantee)  # covers <table>/index/* as the tables have indexes
        for bucket in self.buckets.values():
            bucket.grant_read_write(grantee)  # deletes included: a clip leaving a pool leaves its bucket
        # The start-time table check lists the tables; ListTables takes no resource narrower than "*".
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:ListTables"], resources=["*"]))

    def environment(self) -> dict[str, str]:
        """The settings every process of the deployment shares: DynamoDB metadata and S3 audio."""
        env = {
            "INSIDEOUT_METADATA": "dynamodb",
            "INSIDEOUT_DYNAMODB_TABLE_PREFIX": self.options.table_prefix,
            "INSIDEOUT_STORAGE": "s3",
        }
        for pool, bucket in self.buckets.items():
            env[f"INSIDEOUT_S3_BUCKET_{pool.upper()}"] = bucket.bucket_name
        return env

    # -- the HTTP API ------------------------------------------------------------------------------

    def _api_function(self) -> lambda_.DockerImageFunction:
        log_group = logs.LogGroup(self, "ApiLogs", retention=logs.RetentionDays.ONE_MONTH,
                                  removal_policy=RemovalPolicy.DESTROY)
        function = lambda_.DockerImageFunction(
            self, "Api",
            description="InsideOut HTTP API (insideout.web.lambda_api)",
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT), file="deploy/aws/Dockerfile.lambda", platform=ecr_assets.Platform.LINUX_AMD64,
                exclude=image_excludes(LAMBDA_IMAGE_FILES), ignore_mode=IgnoreMode.DOCKER,
            ),
            architecture=lambda_.Architecture.X86_64,
            memory_size=1024,  # also buys CPU: the first request imports the engine (numpy, scipy, pandas)
            timeout=Duration.seconds(29),  # an HTTP API waits 30 s at most for its integration
            log_group=log_group,
            environment={
                **self.environment(),
                SECRET_ARN_VARIABLE: self.secret.secret_arn,
            },
        )
        self._grant_data(function)
        self.secret.grant_read(function)
        return function

    def _http_api(self, function: lambda_.IFunction) -> tuple[apigw.HttpApi, apigw.HttpStage]:
        # No CORS here: the app answers each site's registered origins itself (SiteCors), preflights included.
        api = apigw.HttpApi(self, "HttpApi", description="InsideOut captcha API", create_default_stage=False)
        stage = apigw.HttpStage(
            self, "DefaultStage", http_api=api, stage_name="$default", auto_deploy=True,
            # A ceiling on the whole API (and the bill); each client's own limits are the app's, in DynamoDB.
            throttle=apigw.ThrottleSettings(rate_limit=self.options.api_rate_limit,
                                            burst_limit=self.options.api_burst_limit),
        )
        integration = integrations.HttpLambdaIntegration("Lambda", function)
        api.add_routes(path="/api/v1/{proxy+}", methods=[apigw.HttpMethod.ANY], integration=integration)
        # The widget finds the API at its own script's origin: serve it from here too.
        for path in ("/widget.js", "/widget/{file}", "/openapi.json"):
            api.add_routes(path=path, methods=[apigw.HttpMethod.GET], integration=integration)
        return api, stage

    # -- the Gradio app ----------------------------------------------------------------------------

    def _app_service(self) -> ecs_patterns.ApplicationLoadBalancedFargateService:
        # Public subnets only, no NAT gateway (about 33 USD a month each): the task takes a public address to
        # pull its image, and reaches S3 and DynamoDB through the free gateway endpoints.
        vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        admin_password = secretsmanager.Secret(
            self, "AdminPassword", description="InsideOut INSIDEOUT_ADMIN_PASSWORD (the app's admin account)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=24, exclude_punctuation=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        https = bool(self.options.certificate_arn)
        image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), file="deploy/aws/Dockerfile.app", platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=image_excludes(APP_IMAGE_FILES), ignore_mode=IgnoreMode.DOCKER,
        )
        service = ecs_patterns.ApplicationLoadBalancedFargateService(
            self, "App",
            vpc=vpc,
            cpu=2048, memory_limit_mib=4096,  # torch, the starter library's synthesis and fine-tunes run in it
            desired_count=1,
            assign_public_ip=True,
            task_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            public_load_balancer=True,
            # The first start with an empty play pool synthesizes the starter library before serving.
            health_check_grace_period=Duration.minutes(10),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
            idle_timeout=Duration.minutes(5),  # Gradio streams events over long-lived requests
            protocol=elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", self.options.certificate_arn)
            if https else None,
            redirect_http=https,
            task_image_options=ecs_patterns.ApplicationLoadBalancedTaskImageOptions(
                image=image,
                container_port=APP_PORT,
                environment={
                    **self.environment(),
                    "INSIDEOUT_HOST": "0.0.0.0",
                    "INSIDEOUT_PORT": str(APP_PORT),
                    # The load balancer is the peer; its X-Forwarded-For names the client.
                    "INSIDEOUT_TRUSTED_PROXIES": vpc.vpc_cidr_block,
                },
                secrets={
                    "INSIDEOUT_SECRET_KEY": ecs.Secret.from_secrets_manager(self.secret),
                    "INSIDEOUT_ADMIN_PASSWORD": ecs.Secret.from_secrets_manager(admin_password),
                },
                log_driver=ecs.LogDrivers.aws_logs(
                    stream_prefix="app",
                    log_group=logs.LogGroup(self, "AppLogs", retention=logs.RetentionDays.ONE_MONTH,
                                            removal_policy=RemovalPolicy.DESTROY),
                ),
            ),
        )
        service.target_group.configure_health_check(path="/api/v1/health", healthy_http_codes="200")
        # Gradio keeps a session's queue in its process: a browser must stay on one task once there are several.
        service.target_group.enable_cookie_stickiness(Duration.hours(1))
        self._grant_data(service.task_definition.task_role)
        CfnOutput(self, "AppUrl", value=f"{'https' if https else 'http'}://{service.load_balancer.load_balancer_dns_name}",
                  description="the Gradio app")
        CfnOutput(self, "AdminPasswordArn", value=admin_password.secret_arn,
                  description="the app's admin password (Secrets Manager)")
        return service
