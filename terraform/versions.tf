terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The 5.100 line: the version the offline provider mirror (scripts/check-aws.sh) and CI test against.
      version = "~> 5.100"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.hcl` (from the bootstrap root's output).
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = merge({ project = "polarity", managed-by = "terraform" }, var.tags)
  }
}
