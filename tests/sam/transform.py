"""Run the SAM transform offline: prints the CloudFormation a SAM template becomes.

    python3 tests/sam/transform.py TEMPLATE '{"LayerArn": "arn:..."}'

aws-sam-translator (PyPI) does what CloudFormation's AWS::Serverless transform does, with
no AWS call: the managed-policy map it would fetch from IAM is stubbed empty, as in the
library's own tests (the template names no managed policy). Parameter values matter where
SAM resolves them itself; everything else stays an intrinsic for the caller to inspect.

Before the transform, local code paths are replaced as `sam package` would replace them
with the S3 locations it uploads to: here `s3://packaged/<path from the repository root>`,
so the caller can check which file would be uploaded.
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """Stands in for ManagedPolicyLoader, which lists IAM's managed policies."""

    def load(self):
        return {}


# The properties `sam package` uploads, per SAM resource type.
LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def package(template, template_dir, repo):
    """Points local code paths at where `sam package` would have put them."""
    for resource in template.get("Resources", {}).values():
        prop = LOCAL_PATHS.get(resource.get("Type"))
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            local = os.path.relpath(os.path.join(template_dir, uri), repo)
            resource["Properties"][prop] = "s3://packaged/" + local


def main():
    template_path, parameters = sys.argv[1], json.loads(sys.argv[2])
    # The translator reads the region for ARNs and partitions; any valid one will do.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    with open(template_path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    package(template, os.path.dirname(os.path.abspath(template_path)), repo)
    json.dump(transform(template, parameters, NoManagedPolicies()), sys.stdout, indent=1)


if __name__ == "__main__":
    main()
