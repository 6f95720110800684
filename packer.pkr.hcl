# Placeholder: the AMI issue adds the amazon-ebs and docker sources and the provisioners in ami/.
# Kept at the top level because the pipeline and its tests expect it here.
variable "version" {
  type    = string
  default = "0.1.0"
}
