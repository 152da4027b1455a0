"""Creates Shipyard's permissions boundary (deploy/aws/shipyard-boundary.json) in a moto server once it
answers, as a platform team creates it once per account; already there is fine. Used by docker-compose.yml.

usage: python moto-boundary.py ENDPOINT BOUNDARY_JSON
"""
import sys
import time
import urllib.request

import boto3

endpoint, document = sys.argv[1], open(sys.argv[2]).read()
for _ in range(240):
    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    iam.create_policy(PolicyName="shipyard-boundary", PolicyDocument=document)
except iam.exceptions.EntityAlreadyExistsException:
    pass
print("permissions boundary shipyard-boundary is in moto")
