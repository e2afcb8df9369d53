variable "name" {
  description = "Name prefix for network resources."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR (a /16 is expected: subnets are /24 carved from it)."
  type        = string
}

variable "az_count" {
  description = "Number of availability zones (public + private subnet each)."
  type        = number
}

variable "instance_types" {
  description = "Instance types the stack runs in these zones (server, monitoring host): only zones offering all of them are used."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (survives an AZ loss)."
  type        = bool
}

variable "kms_key_arn" {
  description = "KMS key for the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Flow-log retention."
  type        = number
}
