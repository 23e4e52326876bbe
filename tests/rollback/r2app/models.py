from django.db import models


class Gadget(models.Model):
    name = models.CharField(max_length=50)
    color = models.CharField(max_length=20, null=True)  # added by release 2


class Accessory(models.Model):  # added by release 2
    gadget = models.ForeignKey(Gadget, on_delete=models.CASCADE)
    label = models.CharField(max_length=50)
