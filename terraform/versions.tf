terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
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
